/**
 * Assembles the daemon from a resolved config: ports (with their transports and captures), the HTTP
 * app, and the listener. Tests and main.ts both start the daemon through here.
 */
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { buildApp, type BridgeApp } from "./api/app.js";
import { AuditLog } from "./api/audit/audit-log.js";
import { HttpConnections, refuseHttp } from "./api/http-connections.js";
import { systemClock } from "./clock.js";
import { ConnectionLimits, MAX_CONNECTIONS } from "./connection-limits.js";
import type { BridgeConfig } from "./config/types.js";
import { startExports, type ExportListeners } from "./export/listeners.js";
import { fdBudget } from "./fd-budget.js";
import { PortRegistry } from "./ports/registry.js";
import { loadTransportFactory, type TransportFactory } from "./transports/create.js";

export interface Daemon {
  readonly app: BridgeApp;
  readonly ports: PortRegistry;
  /** Telnet / RFC 2217 re-export listeners of the ports that have an `export` block. */
  readonly exports: ExportListeners;
  /** Base URL once listening, e.g. http://127.0.0.1:8420 */
  readonly url: string;
  /** Finishes in-flight requests (bounded), stops listening, closes ports and flushes captures. */
  close(graceMs?: number): Promise<void>;
}

export interface DaemonOptions {
  readonly config: BridgeConfig;
  readonly logger: Logger;
  /** Replaced only by unit tests of the layers above the wire. */
  readonly createTransport?: TransportFactory;
  /** Do not listen on a socket (app.inject only). */
  readonly listen?: boolean;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, logger } = options;
  // Before anything opens: a limit too low for the ports' reserve refuses to start.
  const budget = fdBudget(config.ports.length, MAX_CONNECTIONS);
  if (budget.connections < MAX_CONNECTIONS) {
    logger.warn(
      { openFilesLimit: budget.limit, reserve: budget.reserve, maxConnections: budget.connections },
      `the open-files limit leaves room for ${budget.connections} connections (not ${MAX_CONNECTIONS}); raise it`,
    );
  }
  const limits = new ConnectionLimits(budget.connections);
  // What has started so far is closed again, latest first, when a later step fails.
  const undo: (() => Promise<unknown>)[] = [];
  try {
    const ports = await PortRegistry.create(config, {
      createTransport:
        options.createTransport ?? (await loadTransportFactory(config.ports.map((port) => port.transport))),
      clock: systemClock,
      log: logger,
    });
    undo.push(() => ports.stopAll(0));
    const audit = await AuditLog.open(config.audit, logger);
    undo.push(() => audit.close());
    const app = await buildApp({
      ports,
      logger,
      audit,
      tokens: config.auth.tokens,
      rateLimit: config.rateLimit,
      ...(config.listen.tls ? { tls: config.listen.tls } : {}),
    });
    undo.push(() => app.close());
    const http = new HttpConnections(
      app.server,
      limits.gate("http", logger.child({ component: "http" }), refuseHttp(config.listen.tls !== undefined)),
    );
    const exports = await startExports({ ports: ports.list(), audit, log: logger, limits });
    undo.push(() => exports.close());
    ports.startAll();
    let url = "";
    if (options.listen !== false) {
      await app.listen({ host: config.listen.host, port: config.listen.port });
      const address = app.server.address() as AddressInfo;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      url = `${config.listen.tls ? "https" : "http"}://${host}:${address.port}`;
    } else {
      await app.ready();
    }
    let closing: Promise<void> | null = null;
    return {
      app,
      ports,
      exports,
      url,
      close(graceMs = 10_000) {
        closing ??= (async () => {
          // Stop taking requests; in-flight sequences finish (bounded), then the wire and the captures close.
          const serverClosed = app.close();
          http.closeIdle(); // a half-open connection would hold server.close() until its timeout
          await exports.close();
          await ports.stopAll(graceMs);
          await serverClosed;
          await audit.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    for (const step of undo.reverse()) {
      await step().catch((cleanupErr: unknown) =>
        logger.warn({ err: cleanupErr }, "start-up cleanup failed"),
      );
    }
    throw err;
  }
}
