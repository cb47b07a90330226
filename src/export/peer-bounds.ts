/**
 * What one telnet / RFC 2217 client can make the daemon hold for it. Past any bound the client is cut
 * off (ExportSession.cutOff: socket destroyed, one log line, one `export-cut-off` audit record), so a
 * hostile or broken client costs a bounded amount of memory and never slows the others.
 *
 *   subnegotiation   IAC SB without IAC SE: the decoder keeps MAX_SUBNEGOTIATION_BYTES (telnet/codec.ts)
 *   unread output    socket.writableLength: a client that does not read what the target prints
 *   pending commands BREAKs and RFC 2217 commands waiting for the port, each a promise and a closure
 *   pending input    typed bytes waiting for the wire: the socket is paused instead (input-queue.ts)
 */
import type { Socket } from "node:net";
import { MAX_SUBNEGOTIATION_BYTES } from "../telnet/codec.js";

/** A client that leaves this much output unread is dropped; the capture is unaffected. */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;
/** BREAKs and RFC 2217 commands of one client not yet done; a person or pyserial has one or two. */
export const MAX_PENDING_COMMANDS = 64;
export { MAX_SUBNEGOTIATION_BYTES };

export type PeerLimit = "subnegotiation" | "unread-output" | "pending-commands";

/** Drops the client for passing `limit`; `detail` goes to the log and the audit. */
export type CutOff = (limit: PeerLimit, detail: Readonly<Record<string, number>>) => void;

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

/** Cuts the client off if it leaves more than MAX_UNREAD_BYTES unread; true when it did. */
export function overUnread(socket: Socket, cutOff: CutOff): boolean {
  if (socket.writableLength <= MAX_UNREAD_BYTES) return false;
  cutOff("unread-output", { bytes: socket.writableLength, max: MAX_UNREAD_BYTES });
  return true;
}
