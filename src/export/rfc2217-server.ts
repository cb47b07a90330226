/**
 * An RFC 2217 client of a re-exported port: pyserial's rfc2217://, labgrid's RFC2217Driver. Telnet in
 * binary mode plus COM-PORT-OPTION commands, each answered with its code + 100 (see com-port-state.ts).
 * SET-CONTROL BREAK-ON sends one BREAK of the port's breakMs through the port's break path and is
 * answered BREAK-ON once it is on the wire, BREAK-OFF when it could not start within 2 s or the port
 * cannot send one; BREAK-OFF is then acknowledged (the BREAK has already ended).
 *
 *   socket ─> TelnetDecoder ─┬─ data ─> session.input (binary: no newline rewriting)
 *                            ├─ SB 44 <cmd> ─> ComPortState ─> reply | session.sendBreak ─> reply
 *                            └─ IAC WILL/DO.. ─> ServerNegotiation ─> socket
 */
import type { Socket } from "node:net";
import type { TransportConfig } from "../config/types.js";
import { COM_PORT_OPTION, type LineSettings } from "../transports/rfc2217-codec.js";
import { BRK, OPT_BINARY, OPT_SGA, TelnetDecoder } from "../transports/telnet-codec.js";
import { ExportSession, type SessionDeps } from "./client-session.js";
import { ComPortState } from "./com-port-state.js";
import { ServerNegotiation } from "./negotiation.js";

/** The port's real serial line settings; null for a QEMU chardev, where baud means nothing. */
export function lineSettingsOf(transport: TransportConfig): LineSettings | null {
  switch (transport.kind) {
    case "tty":
      return transport;
    case "rfc2217":
      return transport.line;
    case "telnet":
      return null;
  }
}

export function serveRfc2217Client(socket: Socket, deps: SessionDeps, client: string): ExportSession {
  const session = new ExportSession(socket, deps, client);
  const negotiation = new ServerNegotiation(
    new Set([OPT_BINARY, OPT_SGA]),
    new Set([OPT_BINARY, OPT_SGA, COM_PORT_OPTION]),
  );
  const state = new ComPortState(lineSettingsOf(deps.port.config.transport), `sysrq-bridge ${deps.port.id}`);
  const decoder = new TelnetDecoder("standard");
  // Commands are answered in the order they came, a BREAK's answer included.
  let commands: Promise<void> = Promise.resolve();
  const command = (code: number, value: Buffer): void => {
    commands = commands.then(async () => {
      const action = state.handle(code, value);
      if (action.kind === "none") return;
      if (action.kind === "break-on") {
        const sent = await session.sendBreak();
        if (!socket.destroyed) socket.write(state.breakAnswer(sent));
        return;
      }
      if (action.notApplied)
        session.lineControlNotApplied(action.notApplied.setting, action.notApplied.value);
      if (!socket.destroyed) socket.write(action.reply);
    });
  };
  socket.pause();
  socket.write(negotiation.opening([OPT_BINARY]));
  socket.on("data", (chunk: Buffer) => {
    for (const event of decoder.decode(chunk)) {
      switch (event.type) {
        case "data":
          session.input(event.bytes);
          break;
        case "command":
          if (event.command === BRK) void session.sendBreak();
          break;
        case "negotiation": {
          const answer = negotiation.answer(event.verb, event.option);
          if (answer) socket.write(answer);
          break;
        }
        case "subnegotiation":
          if (event.option === COM_PORT_OPTION && event.payload.length > 0) {
            command(event.payload[0] ?? 0, event.payload.subarray(1));
          }
          break;
      }
    }
  });
  void session.start().then(() => socket.resume());
  return session;
}
