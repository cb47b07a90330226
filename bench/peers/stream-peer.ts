/**
 * A telnet peer that streams as fast as its socket takes it (case 3b), run as its own process so its
 * CPU is not counted as the daemon's. Prints its port; each "go" line on stdin sends BYTES of the
 * pattern (escaped) to the newest connection still open, which then stays open. A connection that
 * opens or closes is reported ("open <its remote port>", "closed ..."), so the bench knows which
 * connection is the newest.
 */
import net from "node:net";
import { createInterface } from "node:readline";
import { streamPattern, telnetEscaped } from "./pattern.js";

const bytes = Number(process.argv[2]);
const wire = telnetEscaped(streamPattern(bytes));
const CHUNK = 64 * 1024;
const open: net.Socket[] = [];

function send(socket: net.Socket, from = 0): void {
  for (let at = from; at < wire.length; at += CHUNK) {
    if (!socket.write(wire.subarray(at, at + CHUNK))) {
      socket.once("drain", () => send(socket, at + CHUNK));
      return;
    }
  }
}

const server = net.createServer((socket) => {
  const remotePort = socket.remotePort;
  socket.on("error", () => undefined);
  socket.on("close", () => {
    open.splice(open.indexOf(socket), 1);
    process.stdout.write(`closed ${remotePort}\n`);
  });
  open.push(socket);
  process.stdout.write(`open ${remotePort}\n`);
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
});
createInterface({ input: process.stdin }).on("line", (line) => {
  const newest = open.at(-1);
  if (line.trim() === "go" && newest) send(newest);
});
