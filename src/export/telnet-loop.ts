/**
 * The socket side both re-export servers share (telnet-server.ts, rfc2217-server.ts): the opening, the
 * decode loop with its peer bounds, and the start. Export-only, so it lives here rather than in telnet/:
 * it drives an ExportSession and cuts a client off (clients/limits.ts).
 *
 *   socket ─> TelnetDecoder ─┬─ data ─> loop.data
 *                            ├─ IAC BRK ─> session.sendBreak ──────┐ counted together (PendingLimit)
 *                            ├─ IAC SB ─> loop.subnegotiation work ┘
 *                            ├─ IAC WILL/DO.. ─> TelnetOptions ─> one write per read
 *                            └─ overflow ─> cut off
 */
import type { Socket } from "node:net";
import { BRK, TelnetDecoder } from "../telnet/codec.js";
import type { TelnetOptions } from "../telnet/options.js";
import type { ExportSession, SessionDeps } from "./client-session.js";
import { attachNotices } from "./notices.js";
import { PendingLimit, overUnread } from "../clients/limits.js";

export interface TelnetLoop {
  readonly options: TelnetOptions;
  /** The server's first bytes: its negotiation opening. */
  readonly opening: Buffer;
  /** The client's data, un-escaped. */
  readonly data: (bytes: Buffer) => void;
  /** The port work a subnegotiation asks for, counted among the pending commands; null for none. */
  readonly subnegotiation: (option: number, payload: Buffer) => (() => Promise<unknown>) | null;
}

export function runTelnetLoop(
  socket: Socket,
  session: ExportSession,
  deps: SessionDeps,
  loop: TelnetLoop,
): void {
  const decoder = new TelnetDecoder("standard");
  const pending = new PendingLimit();
  // A refused BREAK or input is said on the console stream, as the greeting is (notices: true).
  const greeting = attachNotices(socket, session, deps);
  socket.pause(); // nothing is read until the session knows whether it holds the lease
  socket.write(loop.opening);
  socket.on("data", (chunk: Buffer) => {
    // One write per read: a write per answer queues an object each for a client that does not read.
    const answers: Buffer[] = [];
    for (const event of decoder.decode(chunk)) {
      switch (event.type) {
        case "data":
          loop.data(event.bytes);
          break;
        case "command":
          if (event.command === BRK && !pending.track(() => session.sendBreak())) {
            session.cutOff("pending-commands", { max: pending.max });
            return;
          }
          break;
        case "negotiation": {
          const answer = loop.options.answer(event.verb, event.option);
          if (answer) answers.push(answer);
          break;
        }
        case "subnegotiation": {
          const work = loop.subnegotiation(event.option, event.payload);
          if (work && !pending.track(work)) {
            session.cutOff("pending-commands", { max: pending.max });
            return;
          }
          break;
        }
        case "overflow":
          session.cutOff("subnegotiation", { max: event.limit });
          return;
      }
    }
    if (answers.length > 0) socket.write(Buffer.concat(answers));
    overUnread(socket, session.cutOff); // answers the client does not read
  });
  void session.start(greeting).then(() => socket.resume());
}
