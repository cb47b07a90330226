/**
 * A plain telnet (RFC 854) client of a re-exported port: picocom through socat, busybox telnet,
 * conserver. The server offers WILL ECHO and WILL SGA (the target echoes; clients go to character
 * mode), doubles 0xFF toward the client, turns the client's CR LF / CR NUL into the CR a serial console
 * expects, and sends IAC BRK from the client on as a BREAK through the port (the writer lease
 * needed: a refused BREAK is said to the client in a line like the greeting, where notices are on).
 *
 *   socket ─> telnet-loop.ts ─┬─ data ─> NewlineFilter ─> session.input
 *                             ├─ IAC BRK ─> session.sendBreak
 *                             └─ IAC WILL/DO.. ─> TelnetOptions ─> socket
 */
import type { Socket } from "node:net";
import { OPT_BINARY, OPT_ECHO, OPT_SGA } from "../telnet/codec.js";
import { NewlineFilter } from "../telnet/newline.js";
import { TelnetOptions } from "../telnet/options.js";
import { ExportSession, type SessionDeps } from "./client-session.js";
import { runTelnetLoop } from "./telnet-loop.js";

export function serveTelnetClient(socket: Socket, deps: SessionDeps, client: string): ExportSession {
  const session = new ExportSession(socket, deps, client);
  const options = new TelnetOptions([OPT_ECHO, OPT_SGA, OPT_BINARY], [OPT_BINARY, OPT_SGA]);
  const newline = new NewlineFilter();
  runTelnetLoop(socket, session, deps, {
    options,
    opening: options.opening(),
    data: (bytes) => session.input(newline.filter(bytes)),
    subnegotiation: () => null, // terminal type, window size: a serial console has no use for them
  });
  return session;
}
