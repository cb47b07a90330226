/** Pieces for tests that attack the built daemon: its RSS, raw sockets from a chosen address, a telnet target. */
import { readFileSync } from "node:fs";
import net from "node:net";

/** Resident memory of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
}

/** A raw connection from `localAddress` (any 127.x.y.z is this host, a client address of its own). */
export function connectFrom(port: number, localAddress = "127.0.0.1"): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: "127.0.0.1", localAddress });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Resolves once the peer closed (or reset) the socket; with what it sent before. */
export function closedBy(socket: net.Socket, timeoutMs: number): Promise<{ closed: boolean; text: string }> {
  let text = "";
  socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
  socket.on("error", () => undefined);
  if (socket.destroyed || socket.readableEnded) return Promise.resolve({ closed: true, text });
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ closed: false, text }), timeoutMs);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({ closed: true, text });
    });
  });
}

/** A telnet target that prints nothing and lets the test drop the daemon's connections. */
export interface SilentTarget {
  readonly port: number;
  readonly sockets: Set<net.Socket>;
  /** Connections accepted so far. */
  accepted(): number;
  dropAll(): void;
  close(): Promise<void>;
}

export async function startSilentTarget(): Promise<SilentTarget> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    accepted: () => accepted,
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
