/**
 * A telnet peer that streams as fast as its socket takes it (case 3b), run as its own process so its
 * CPU is not counted as the daemon's. Prints its port; each "go" line on stdin sends BYTES of the
 * pattern (escaped) to the newest connection, which then stays open (no reconnect, no second stream).
 */
import net from "node:net";
import { createInterface } from "node:readline";
import { streamPattern, telnetEscaped } from "./pattern.js";

const bytes = Number(process.argv[2]);
const wire = telnetEscaped(streamPattern(bytes));
const CHUNK = 64 * 1024;
let newest: net.Socket | null = null;

function send(socket: net.Socket, from = 0): void {
  for (let at = from; at < wire.length; at += CHUNK) {
    if (!socket.write(wire.subarray(at, at + CHUNK))) {
      socket.once("drain", () => send(socket, at + CHUNK));
      return;
    }
  }
}

const server = net.createServer((socket) => {
  socket.on("error", () => undefined);
  newest = socket;
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
});
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "go" && newest) send(newest);
});
