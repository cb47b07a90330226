/**
 * Case 4's floor: the least a daemon can do for POST /ports/:id/sysrq. A bare node:http server with one
 * telnet socket per port, in a process of its own like the daemon: read the JSON body, write IAC BRK
 * and the key in one write, wait for the kernel's whole `sysrq:` line, answer JSON. No validation,
 * auth, queue, audit, capture or logging, so what it costs on this machine is the wire (the sockets'
 * wake-ups and HTTP), not sysrq-bridge.
 *
 *   node --import tsx minimal-relay.ts PORTS_JSON   prints its HTTP port as one line; exits when stdin closes
 */
import http from "node:http";
import net from "node:net";

const IAC_BRK = [0xff, 0xf3];
const peerPorts = JSON.parse(process.argv[2] ?? "[]") as number[];

interface Link {
  readonly socket: net.Socket;
  text: string;
  waiter: ((line: string) => void) | null;
}

async function connect(port: number): Promise<Link> {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const link: Link = { socket, text: "", waiter: null };
  socket.on("data", (chunk: Buffer) => {
    link.text += chunk.toString("latin1");
    const at = link.text.indexOf("sysrq: ");
    const end = at < 0 ? -1 : link.text.indexOf("\n", at);
    if (end < 0) return;
    const line = link.text.slice(at, end);
    link.text = link.text.slice(end + 1);
    link.waiter?.(line);
  });
  return link;
}

const links = new Map<string, Link>();
await Promise.all(peerPorts.map(async (port, i) => links.set(`p${i}`, await connect(port))));

const server = http.createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk: string) => (body += chunk));
  req.on("end", () => {
    const link = links.get(/^\/ports\/([^/]+)\/sysrq$/.exec(req.url ?? "")?.[1] ?? "");
    const key = (JSON.parse(body) as { keys: string }).keys;
    if (!link) {
      res.writeHead(404).end();
      return;
    }
    link.waiter = (line) => {
      link.waiter = null;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ results: [{ key, verdict: "acknowledged", lines: [line] }] }));
    };
    link.socket.write(Buffer.from([...IAC_BRK, key.charCodeAt(0)]));
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
});
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
