/**
 * Starts and stops every port's re-export listeners (`export: { telnet, rfc2217 }` in the config).
 * A unix socket is created mode 0600 (a stale one from a crash is replaced). A listener that cannot
 * start stops the daemon's start, naming the key. Connections are capped per client address and in
 * all (connection-limits.ts); a console watcher is idle by nature, so no idle timeout applies here.
 */
import { chmod, lstat, unlink } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit-log.js";
import { isDeepStrictEqual } from "node:util";
import type { ExportListenerConfig, PortConfig } from "../config/types.js";
import type { ConnectionLimits, ListenerGate } from "../connection-limits.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import type { ExportSession, ExportVia } from "./client-session.js";
import { serveRfc2217Client } from "./rfc2217-server.js";
import { serveTelnetClient } from "./telnet-server.js";

export interface ExportDeps {
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Caps shared with the HTTP listener: per client address on each listener, and in all. */
  readonly limits: ConnectionLimits;
}

export interface ExportListeners {
  /** The bound TCP port or socket path of a port's listener (tests bind to port 0). */
  address(portId: string, via: ExportVia): number | string | null;
  /**
   * Binds the listeners `ports` configure that no running listener has the endpoint of; a reload's
   * first step, so a listener that cannot bind refuses it before anything changed (CONFIG_INVALID).
   */
  prepare(ports: readonly PortConfig[]): Promise<ExportChange>;
  /** Stops listening, disconnects every client (releasing their leases) and waits for their audit. */
  close(): Promise<void>;
}

export interface ExportChange {
  /**
   * Serves the prepared listeners' ports (`portOf` finds the running Port); a listener whose port or
   * settings changed disconnects its clients, and one no longer configured closes.
   */
  commit(portOf: (id: string) => Port): Promise<void>;
  /** Closes what prepare bound; the running listeners go on as they were. */
  abandon(): Promise<void>;
}

interface Target {
  readonly port: Port;
  readonly listener: ExportListenerConfig;
  readonly log: Logger;
  readonly gate: ListenerGate;
}

/** One bound server; what it serves is swapped by a reload (an unchanged port's keeps its clients). */
interface Running {
  readonly key: string;
  readonly portId: string;
  readonly via: ExportVia;
  readonly server: Server;
  readonly sockets: Set<Socket>;
  target: Target | null;
}

interface Wanted {
  readonly key: string;
  readonly port: PortConfig;
  readonly index: number;
  readonly via: ExportVia;
  readonly listener: ExportListenerConfig;
}

/** A listener's identity across reloads: its endpoint (port 0 is a fresh one each time, so per port). */
function endpointKey(portId: string, via: ExportVia, listener: ExportListenerConfig): string {
  const endpoint = listener.endpoint;
  if ("path" in endpoint) return `unix:${endpoint.path}`;
  const fresh = endpoint.port === 0 ? `#${portId}.${via}` : "";
  return `tcp:${endpoint.host}:${endpoint.port}${fresh}`;
}

function wantedBy(ports: readonly PortConfig[]): Wanted[] {
  const wanted: Wanted[] = [];
  ports.forEach((port, index) => {
    for (const via of ["telnet", "rfc2217"] as const) {
      const listener = port.export?.[via];
      if (listener) wanted.push({ key: endpointKey(port.id, via, listener), port, index, via, listener });
    }
  });
  return wanted;
}

export async function startExports(deps: ExportDeps, ports: readonly Port[]): Promise<ExportListeners> {
  const running = new Map<string, Running>();
  const sessionsClosed = new Set<Promise<void>>();

  const accept = (entry: Running, socket: Socket): void => {
    const target = entry.target;
    if (target === null) {
      socket.destroy(); // bound by a reload not committed yet
      return;
    }
    if (!target.gate.admit(socket)) return;
    const { port, listener, log } = target;
    const via = entry.via;
    const client = `${via}:${socket.remoteAddress ?? "unix"}:${socket.remotePort ?? ""}`;
    const sessionDeps = { port, listener, via, audit: deps.audit, log };
    const serve = via === "telnet" ? serveTelnetClient : serveRfc2217Client;
    const session: ExportSession = serve(socket, sessionDeps, client);
    const sockets = entry.sockets;
    sockets.add(socket);
    socket.on("error", () => socket.destroy());
    // Tracked from the connection on: the server's own close fires before its sockets' close
    // events, so a set filled at socket close was still empty when shutdown waited on it.
    const done = new Promise<void>((resolve) =>
      socket.once("close", () => {
        sockets.delete(socket);
        void session
          .closed()
          .catch((err: unknown) => log.error({ err }, "export session close failed"))
          .then(resolve);
      }),
    );
    sessionsClosed.add(done);
    void done.then(() => sessionsClosed.delete(done));
  };

  const stop = async (entries: readonly Running[]): Promise<void> => {
    const stopped = entries.map(
      ({ server }) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const entry of entries) for (const socket of entry.sockets) socket.destroy();
    await Promise.all(stopped);
  };

  const prepare = async (ports: readonly PortConfig[]): Promise<ExportChange> => {
    const wanted = wantedBy(ports);
    const bound: Running[] = [];
    try {
      for (const want of wanted) {
        if (running.has(want.key)) continue;
        const entry: Running = {
          key: want.key,
          portId: want.port.id,
          via: want.via,
          server: createServer((socket) => accept(entry, socket)),
          sockets: new Set(),
          target: null,
        };
        const at = `port ${want.port.id} export.${want.via}`;
        await listen(entry.server, want.listener, at, `ports.${want.index}.export.${want.via}`);
        bound.push(entry);
      }
    } catch (err) {
      await stop(bound);
      throw err;
    }
    return {
      async commit(portOf) {
        for (const entry of bound) running.set(entry.key, entry);
        const keep = new Set<string>();
        for (const want of wanted) {
          keep.add(want.key);
          const entry = running.get(want.key) as Running;
          const port = portOf(want.port.id);
          const old = entry.target;
          if (old !== null && old.port === port && isDeepStrictEqual(old.listener, want.listener)) continue;
          // Another port or other settings: its clients belonged to what was there before.
          for (const socket of entry.sockets) socket.destroy();
          const log = deps.log.child({ port: want.port.id, export: want.via });
          const gate = deps.limits.gate(`${want.port.id} export.${want.via}`, log);
          entry.target = { port, listener: want.listener, log, gate };
          if (old === null) log.info({ at: describe(entry.server) }, "re-export listening");
        }
        const gone = [...running.values()].filter((entry) => !keep.has(entry.key));
        for (const entry of gone) running.delete(entry.key);
        await stop(gone);
      },
      abandon: () => stop(bound),
    };
  };

  const first = await prepare(ports.map((port) => port.config));
  await first.commit((id) => ports.find((port) => port.id === id) as Port);
  return {
    address(portId, via) {
      const found = [...running.values()].find((r) => r.target?.port.id === portId && r.via === via);
      const address = found?.server.address();
      if (address == null) return null;
      return typeof address === "string" ? address : address.port;
    },
    prepare,
    async close() {
      await stop([...running.values()]);
      await Promise.all(sessionsClosed);
    },
  };
}

/** `at` names the listener for a person ("port p0 export.telnet"), `key` for a program (ports.0.export.telnet). */
async function listen(
  server: Server,
  listener: ExportListenerConfig,
  at: string,
  key: string,
): Promise<void> {
  const endpoint = listener.endpoint;
  if ("path" in endpoint) await removeStaleSocket(endpoint.path, at);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      if ("path" in endpoint) server.listen(endpoint.path, resolve);
      else server.listen(endpoint.port, endpoint.host, resolve);
    });
    if ("path" in endpoint) await chmod(endpoint.path, 0o600);
  } catch (err) {
    const where = "path" in endpoint ? endpoint.path : `${endpoint.host}:${endpoint.port}`;
    const message = `cannot listen on ${where}: ${(err as Error).message}`;
    throw new BridgeError("CONFIG_INVALID", `${at}: ${message}`, {
      cause: err,
      details: { errors: [{ path: key, message }] },
    });
  }
}

/** A socket file left by a daemon that did not shut down; anything else at the path is an error. */
async function removeStaleSocket(file: string, at: string): Promise<void> {
  try {
    const info = await lstat(file);
    if (!info.isSocket())
      throw new BridgeError("CONFIG_INVALID", `${at}.path: ${file} exists and is not a socket`);
    await unlink(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

function describe(server: Server): string {
  const address = server.address();
  if (address == null) return "";
  return typeof address === "string" ? address : `${address.address}:${address.port}`;
}
