/**
 * A plain telnet (RFC 854) client of a re-exported port: picocom through socat, busybox telnet,
 * conserver. The server offers WILL ECHO and WILL SGA (the target echoes; clients go to character
 * mode), doubles 0xFF toward the client, turns the client's CR LF / CR NUL into the CR a serial console
 * expects, and sends IAC BRK from the client on as a BREAK through the port (the writer lease
 * needed: a refused BREAK is said to the client in a line like the greeting, where notices are on).
 *
 *   socket ─> TelnetDecoder ─┬─ data ─> NewlineFilter ─> session.input
 *                            ├─ IAC BRK ─> session.sendBreak
 *                            └─ IAC WILL/DO.. ─> ServerNegotiation ─> socket
 */
import type { Socket } from "node:net";
import { BRK, OPT_BINARY, OPT_ECHO, OPT_SGA, TelnetDecoder } from "../transports/telnet-codec.js";
import { ExportSession, type SessionDeps } from "./client-session.js";
import { ServerNegotiation } from "./negotiation.js";
import { NewlineFilter } from "./newline.js";
import { attachNotices } from "./notices.js";
import { PendingLimit, overUnread } from "../clients/limits.js";

export function serveTelnetClient(socket: Socket, deps: SessionDeps, client: string): ExportSession {
  const session = new ExportSession(socket, deps, client);
  const negotiation = new ServerNegotiation(
    new Set([OPT_ECHO, OPT_SGA, OPT_BINARY]),
    new Set([OPT_BINARY, OPT_SGA]),
  );
  const decoder = new TelnetDecoder("standard");
  const newline = new NewlineFilter();
  // A refused BREAK or input is said on the console stream, as the greeting is (notices: true).
  const greeting = attachNotices(socket, session, deps);
  const breaks = new PendingLimit();
  socket.pause(); // nothing is read until the session knows whether it holds the lease
  socket.write(negotiation.opening());
  socket.on("data", (chunk: Buffer) => {
    // One write per read: a write per answer queues an object each for a client that does not read.
    const answers: Buffer[] = [];
    for (const event of decoder.decode(chunk)) {
      switch (event.type) {
        case "data":
          session.input(newline.filter(event.bytes));
          break;
        case "command":
          if (event.command === BRK && !breaks.track(() => session.sendBreak())) {
            session.cutOff("pending-commands", { max: breaks.max });
            return;
          }
          break;
        case "negotiation": {
          const answer = negotiation.answer(event.verb, event.option);
          if (answer) answers.push(answer);
          break;
        }
        case "subnegotiation":
          break; // terminal type, window size: a serial console has no use for them
        case "overflow":
          session.cutOff("subnegotiation", { max: event.limit });
          return;
      }
    }
    if (answers.length > 0) socket.write(Buffer.concat(answers));
    overUnread(socket, session.cutOff); // negotiation answers the client does not read
  });
  void session.start().then(() => {
    if (greeting) socket.write(greeting());
    socket.resume();
  });
  return session;
}
