/**
 * Starts and stops every port's re-export listeners (`export: { telnet, rfc2217 }` in the config).
 * A unix socket is created mode 0600 (a stale one from a crash is replaced). A listener that cannot
 * start stops the daemon's start, naming the key. Connections are capped per client address and in
 * all (connection-limits.ts); a console watcher is idle by nature, so no idle timeout applies here.
 */
import { chmod, lstat, unlink } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import type { AuditLog } from "../api/audit/audit-log.js";
import type { ExportListenerConfig } from "../config/types.js";
import type { ConnectionLimits } from "../connection-limits.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import type { ExportSession, ExportVia } from "./client-session.js";
import { serveRfc2217Client } from "./rfc2217-server.js";
import { serveTelnetClient } from "./telnet-server.js";

export interface ExportDeps {
  readonly ports: readonly Port[];
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Caps shared with the HTTP listener: per client address on each listener, and in all. */
  readonly limits: ConnectionLimits;
}

export interface ExportListeners {
  /** The bound TCP port or socket path of a port's listener (tests bind to port 0). */
  address(portId: string, via: ExportVia): number | string | null;
  /** Stops listening, disconnects every client (releasing their leases) and waits for their audit. */
  close(): Promise<void>;
}

interface Running {
  readonly portId: string;
  readonly via: ExportVia;
  readonly server: Server;
}

export async function startExports(deps: ExportDeps): Promise<ExportListeners> {
  const running: Running[] = [];
  const sockets = new Set<Socket>();
  const sessionsClosed = new Set<Promise<void>>();
  const close = async (): Promise<void> => {
    const stopped = running.map(
      ({ server }) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const socket of sockets) socket.destroy();
    await Promise.all(stopped);
    await Promise.all(sessionsClosed);
  };
  try {
    for (const port of deps.ports) {
      for (const via of ["telnet", "rfc2217"] as const) {
        const listener = port.config.export?.[via];
        if (!listener) continue;
        const log = deps.log.child({ port: port.id, export: via });
        const gate = deps.limits.gate(`${port.id} export.${via}`, log);
        const server = createServer((socket) => {
          if (!gate.admit(socket)) return;
          const client = `${via}:${socket.remoteAddress ?? "unix"}:${socket.remotePort ?? ""}`;
          const sessionDeps = { port, listener, via, audit: deps.audit, log };
          const serve = via === "telnet" ? serveTelnetClient : serveRfc2217Client;
          const session: ExportSession = serve(socket, sessionDeps, client);
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
        });
        await listen(server, listener, `port ${port.id} export.${via}`);
        running.push({ portId: port.id, via, server });
        log.info({ at: describe(server) }, "re-export listening");
      }
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    address(portId, via) {
      const found = running.find((r) => r.portId === portId && r.via === via);
      const address = found?.server.address();
      if (address == null) return null;
      return typeof address === "string" ? address : address.port;
    },
    close,
  };
}

async function listen(server: Server, listener: ExportListenerConfig, at: string): Promise<void> {
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
    throw new BridgeError("CONFIG_INVALID", `${at}: cannot listen on ${where}: ${(err as Error).message}`, {
      cause: err,
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
