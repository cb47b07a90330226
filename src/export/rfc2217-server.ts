/**
 * An RFC 2217 client of a re-exported port: pyserial's rfc2217://, labgrid's RFC2217Driver. Telnet in
 * binary mode plus COM-PORT-OPTION commands, each answered with its code + 100 (see com-port-state.ts).
 * SET-CONTROL BREAK-ON puts the line into BREAK through the port's break path (a tty: TIOCSBRK, held
 * until BREAK-OFF's TIOCCBRK, at most MAX_BREAK_HOLD_MS; a telnet port: one IAC BRK) and is answered
 * BREAK-ON once it is, BREAK-OFF when it could not start within 2 s or the port cannot send one.
 * BREAK-OFF is answered once the line is out of BREAK. Line settings are echoed, applied only where
 * the port allows line control (see client-session.ts), and audited either way. The modem lines go to
 * the client in a NOTIFY-MODEMSTATE at connect and in answer to each NOTIFY-MODEMSTATE poll
 * (Port.modemLines). The greeting and refusals enter the stream only with `notices: true`.
 *
 *   socket ─> TelnetDecoder ─┬─ data ─> session.input (binary: no newline rewriting)
 *                            ├─ SB 44 <cmd> ─> ComPortState ─> reply | session.breakOn/Off/lineControl ─> reply
 *                            └─ IAC WILL/DO.. ─> ServerNegotiation ─> socket
 */
import type { Socket } from "node:net";
import type { Port } from "../ports/port.js";
import { COM_PORT_OPTION, modemStateMessage, type LineSettings } from "../transports/rfc2217-codec.js";
import { BRK, OPT_BINARY, OPT_SGA, TelnetDecoder } from "../transports/telnet-codec.js";
import { ExportSession, type SessionDeps } from "./client-session.js";
import { ComPortState } from "./com-port-state.js";
import { ServerNegotiation } from "./negotiation.js";
import { attachNotices } from "./notices.js";
import { PendingLimit, overUnread } from "../clients/limits.js";

/** The port's real serial line settings now; null for a telnet port, where baud means nothing. */
export function lineSettingsOf(port: Port): LineSettings | null {
  return port.line();
}

export function serveRfc2217Client(socket: Socket, deps: SessionDeps, client: string): ExportSession {
  const session = new ExportSession(socket, deps, client);
  const negotiation = new ServerNegotiation(
    new Set([OPT_BINARY, OPT_SGA]),
    new Set([OPT_BINARY, OPT_SGA, COM_PORT_OPTION]),
  );
  const state = new ComPortState(() => lineSettingsOf(deps.port), `sysrq-bridge ${deps.port.id}`);
  const decoder = new TelnetDecoder("standard");
  // Commands are answered in the order they came, a BREAK's answer included.
  let commands: Promise<void> = Promise.resolve();
  const pending = new PendingLimit();
  const command = (code: number, value: Buffer): Promise<void> =>
    (commands = commands.then(async () => {
      const action = state.handle(code, value);
      if (action.kind === "none") return;
      let reply: Buffer;
      switch (action.kind) {
        case "break-on":
          reply = state.breakAnswer(await session.breakOn());
          break;
        case "break-off":
          await session.breakOff();
          reply = state.breakAnswer(false);
          break;
        case "line":
          await session.lineControl(action.change, action.value);
          reply = action.reply;
          break;
        case "modem-state":
          reply = modemStateMessage(await deps.port.modemLines());
          break;
        case "reply":
          reply = action.reply;
          break;
      }
      if (!socket.destroyed) socket.write(reply);
    }));
  const greeting = attachNotices(socket, session, deps);
  socket.pause();
  socket.write(negotiation.opening([OPT_BINARY]));
  // pyserial's .cts/.dsr/.ri/.cd raise until one NOTIFY-MODEMSTATE has come, polled or not
  commands = commands.then(async () => {
    const lines = await deps.port.modemLines();
    if (!socket.destroyed) socket.write(modemStateMessage(lines));
  });
  socket.on("data", (chunk: Buffer) => {
    // One write per read: a write per answer queues an object each for a client that does not read.
    const answers: Buffer[] = [];
    for (const event of decoder.decode(chunk)) {
      switch (event.type) {
        case "data":
          session.input(event.bytes);
          break;
        case "command":
          if (event.command === BRK && !pending.track(() => session.sendBreak())) {
            session.cutOff("pending-commands", { max: pending.max });
            return;
          }
          break;
        case "negotiation": {
          const answer = negotiation.answer(event.verb, event.option);
          if (answer) answers.push(answer);
          break;
        }
        case "subnegotiation":
          if (event.option === COM_PORT_OPTION && event.payload.length > 0) {
            const [code, value] = [event.payload[0] ?? 0, event.payload.subarray(1)];
            if (!pending.track(() => command(code, value))) {
              session.cutOff("pending-commands", { max: pending.max });
              return;
            }
          }
          break;
        case "overflow":
          session.cutOff("subnegotiation", { max: event.limit });
          return;
      }
    }
    if (answers.length > 0) socket.write(Buffer.concat(answers));
    overUnread(socket, session.cutOff); // answers the client does not read
  });
  void session.start().then(() => {
    if (greeting) socket.write(greeting());
    socket.resume();
  });
  return session;
}
