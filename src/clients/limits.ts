/**
 * What one console client (WebSocket, telnet or RFC 2217) can make the daemon hold for it. Past a
 * bound the door drops the client (its CutOff: a WebSocket closes with 4429; an export client's socket
 * is destroyed, with one log line and one `export-cut-off` audit record), so a hostile or broken
 * client costs a bounded amount of memory and never slows the others.
 *
 *   unread output    what the target printed and the client has not read (a net socket's
 *                    writableLength, a WebSocket's bufferedAmount): MAX_UNREAD_BYTES
 *   pending input    typed bytes waiting for the wire: past MAX_PENDING_INPUT_BYTES the socket is paused
 *                    instead (input-queue.ts), so input is never dropped for being fast
 *   pending commands BREAKs and RFC 2217 commands waiting for the port, each a promise and a closure
 *   subnegotiation   telnet IAC SB without IAC SE: the decoder keeps MAX_SUBNEGOTIATION_BYTES (telnet/codec.ts)
 */

/** A client that leaves this much output unread is dropped; the capture is unaffected. */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;
/** Input waiting for the wire beyond this pauses the socket (TCP backpressure to the client). */
export const MAX_PENDING_INPUT_BYTES = 64 * 1024;
/** BREAKs and RFC 2217 commands of one client not yet done; a person or pyserial has one or two. */
export const MAX_PENDING_COMMANDS = 64;

export type ClientLimit = "subnegotiation" | "unread-output" | "pending-commands";

/** Drops the client for passing `limit`; `detail` goes to the log and the audit. */
export type CutOff = (limit: ClientLimit, detail: Readonly<Record<string, number>>) => void;

/** Counts work still pending for a client, up to `max`. */
export class PendingLimit {
  private count = 0;

  constructor(readonly max: number = MAX_PENDING_COMMANDS) {}

  /** Counts `work` until it settles; false (and `work` is not started) when `max` are pending. */
  track(work: () => Promise<unknown>): boolean {
    if (this.count >= this.max) return false;
    this.count += 1;
    const release = (): void => {
      this.count -= 1;
    };
    void work().then(release, release);
    return true;
  }
}

/** A client's socket, as far as its unread output goes: a net.Socket or a ws WebSocket. */
export type UnreadOutput = { readonly writableLength: number } | { readonly bufferedAmount: number };

/** Cuts the client off if it leaves more than MAX_UNREAD_BYTES unread; true when it did. */
export function overUnread(socket: UnreadOutput, cutOff: CutOff): boolean {
  const bytes = "writableLength" in socket ? socket.writableLength : socket.bufferedAmount;
  if (bytes <= MAX_UNREAD_BYTES) return false;
  cutOff("unread-output", { bytes, max: MAX_UNREAD_BYTES });
  return true;
}
