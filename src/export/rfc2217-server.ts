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
 *   socket ─> telnet-loop.ts ─┬─ data ─> session.input (binary: no newline rewriting)
 *                             ├─ SB 44 <cmd> ─> ComPortState ─> reply | session.breakOn/Off/lineControl ─> reply
 *                             └─ IAC WILL/DO.. ─> TelnetOptions ─> socket
 */
import type { SerialSettings } from "../config/types.js";
import type { Socket } from "node:net";
import type { Port } from "../ports/port.js";
import { COM_PORT_OPTION, modemStateMessage } from "../telnet/rfc2217.js";
import { OPT_BINARY, OPT_SGA } from "../telnet/codec.js";
import { TelnetOptions } from "../telnet/options.js";
import { ExportSession, type SessionDeps } from "./client-session.js";
import { ComPortState } from "./com-port-state.js";
import { runTelnetLoop } from "./telnet-loop.js";

/** The port's real serial line settings now; null for a telnet port, where baud means nothing. */
export function lineSettingsOf(port: Port): SerialSettings | null {
  return port.line();
}

export function serveRfc2217Client(socket: Socket, deps: SessionDeps, client: string): ExportSession {
  const session = new ExportSession(socket, deps, client);
  const options = new TelnetOptions([OPT_BINARY, OPT_SGA], [OPT_BINARY, OPT_SGA, COM_PORT_OPTION]);
  const state = new ComPortState(() => lineSettingsOf(deps.port), `sysrq-bridge ${deps.port.id}`);
  // Commands are answered in the order they came, a BREAK's answer included.
  let commands: Promise<void> = Promise.resolve();
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
  runTelnetLoop(socket, session, deps, {
    options,
    opening: options.opening([OPT_BINARY]),
    data: (bytes) => session.input(bytes),
    subnegotiation: (option, payload) => {
      if (option !== COM_PORT_OPTION || payload.length === 0) return null;
      const [code, value] = [payload[0] ?? 0, payload.subarray(1)];
      return () => command(code, value);
    },
  });
  // pyserial's .cts/.dsr/.ri/.cd raise until one NOTIFY-MODEMSTATE has come, polled or not
  commands = commands.then(async () => {
    const lines = await deps.port.modemLines();
    if (!socket.destroyed) socket.write(modemStateMessage(lines));
  });
  return session;
}
