/**
 * Assembles the daemon from a resolved config: ports (with their transports and captures), the HTTP
 * app, and the listener. Tests and main.ts both start the daemon through here.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { buildApp, type BridgeApp, type ReloadResult } from "../api/app.js";
import { AuditLog } from "../audit/audit-log.js";
import { HttpConnections, refuseHttp } from "../api/http-connections.js";
import { systemClock } from "../clock.js";
import { ConnectionLimits, MAX_CONNECTIONS } from "../connection-limits.js";
import { configProblems, planReload } from "../config/reload-plan.js";
import type { BridgeConfig } from "../config/types.js";
import { BridgeError } from "../errors.js";
import { startExports, type ExportListeners } from "../export/listeners.js";
import { startSshDoor, type SshDoor } from "../export/ssh-door.js";
import { fdBudget } from "../fd-budget.js";
import { PortRegistry } from "../ports/registry.js";
import type { EventLimits } from "../recovery/events.js";
import { IncidentStore } from "../recovery/incidents.js";
import { Recoveries } from "../recovery/recoveries.js";
import { PortWatch, followRotation } from "../recovery/watch.js";
import { Webhooks } from "../recovery/webhooks/webhooks.js";
import { loadTransportFactory, type TransportFactory } from "../transports/create.js";

export interface Daemon {
  readonly app: BridgeApp;
  readonly ports: PortRegistry;
  /** Telnet / RFC 2217 re-export listeners of the ports that have an `export` block. */
  readonly exports: ExportListeners;
  /** The SSH door, when the config has an `ssh` block. */
  readonly ssh: SshDoor | null;
  /** Base URL once listening, e.g. http://127.0.0.1:8420 */
  readonly url: string;
  /**
   * Re-reads the config and applies it as a whole or not at all (CONFIG_INVALID with
   * `details.errors`); ports whose config did not change are not touched. POST /reload calls this.
   */
  reload(): Promise<ReloadResult>;
  /** SIGHUP: reload, then audit and log the outcome (never rejects). */
  reloadBySignal(signal: string): Promise<void>;
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
  /** The config again, for a reload (the file re-read); absent: reloads are refused. */
  readonly loadConfig?: () => Promise<BridgeConfig>;
  /** GET /events' bounds (tests lower them); absent: the defaults. */
  readonly events?: Partial<EventLimits>;
}

/** How long a reload lets a changed or removed port's in-flight requests finish before closing it. */
const RELOAD_GRACE_MS = 5_000;

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
    const incidents = IncidentStore.open(config.captureDir, logger.child({ component: "incidents" }));
    // Watching from before the ports start, so a crash watcher sees each port's first byte.
    const watches = new Map<string, PortWatch>();
    const rotations = new Map<string, () => void>();
    const watchPorts = async (ids: readonly string[]): Promise<void> => {
      for (const id of ids) {
        watches.get(id)?.stop();
        watches.delete(id);
        rotations.get(id)?.();
        rotations.delete(id);
        const port = ports.list().find((p) => p.id === id);
        if (!port) continue;
        rotations.set(id, followRotation(port, incidents));
        const watch = await PortWatch.start(port, incidents, logger.child({ port: id, component: "watch" }));
        if (watch) watches.set(id, watch);
      }
    };
    await watchPorts(config.ports.map((port) => port.id));
    undo.push(async () => {
      for (const watch of watches.values()) watch.stop();
      await incidents.flush();
    });
    const audit = await AuditLog.open(config.audit, logger);
    undo.push(() => audit.close());
    // Subscribed before the ports start: the first incident of a port with `recover:` starts its ladder.
    const recovery = new Recoveries({
      ports,
      store: incidents,
      audit,
      log: logger.child({ component: "recovery" }),
    });
    undo.push(() => recovery.close());
    let reload: () => Promise<ReloadResult> = () =>
      Promise.reject(new BridgeError("CONFIG_INVALID", "the daemon is still starting"));
    const app = await buildApp({
      reload: () => reload(),
      ports,
      logger,
      audit,
      incidents,
      recovery,
      tokens: config.auth.tokens,
      rateLimit: config.rateLimit,
      ...(config.listen.tls ? { tls: config.listen.tls } : {}),
      ...(options.events === undefined ? {} : { events: options.events }),
    });
    undo.push(() => app.close());
    // Before the ports start, so no event of theirs is missed; stored deliveries queue first.
    const webhooks = await Webhooks.start(config.webhooks, {
      captureDir: config.captureDir,
      log: logger.child({ component: "webhooks" }),
      audit,
      observer: app.metrics.webhooks,
      subscribe: (listener) => app.events.onEvent(listener),
    });
    app.metrics.webhooks.pendingSource = () => webhooks.pending();
    undo.push(() => webhooks.close());
    const http = new HttpConnections(
      app.server,
      limits.gate("http", logger.child({ component: "http" }), refuseHttp(config.listen.tls !== undefined)),
    );
    const exports = await startExports({ audit, log: logger, limits }, ports.list());
    undo.push(() => exports.close());
    // Tokens are read at each login, so a reload's new keys apply to the next one.
    let tokens = config.auth.tokens;
    const ssh =
      config.ssh === null
        ? null
        : await startSshDoor({
            config: config.ssh,
            tokens: () => tokens,
            port: (id) => ports.list().find((port) => port.id === id) ?? null,
            audit,
            log: logger.child({ component: "ssh" }),
            limits,
          });
    if (ssh !== null) {
      undo.push(() => ssh.close());
      app.metrics.addSshDoor(() => ssh.stats());
    }
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
    let current = config;
    /** Applies `next`, or throws without having changed anything the plan or a bind refused. */
    const apply = async (next: BridgeConfig): Promise<ReloadResult> => {
      const plan = planReload(current, next);
      if (plan.refused.length > 0) {
        const reasons = plan.refused.map((problem) => `${problem.path}: ${problem.message}`).join("; ");
        throw new BridgeError("CONFIG_INVALID", reasons, { details: { errors: plan.refused } });
      }
      // New listeners bind before anything stops: one that cannot leaves the old config running.
      const exportChange = await exports.prepare(next.ports);
      const stopped = [...plan.removed, ...plan.changed.map((port) => port.id)];
      const started = [...plan.added, ...plan.changed];
      try {
        if (stopped.length + started.length > 0)
          await ports.replace(next, { stopped, started }, RELOAD_GRACE_MS);
      } catch (err) {
        await exportChange.abandon();
        throw err;
      }
      await watchPorts([...plan.removed, ...started.map((port) => port.id)]);
      // Periodic probes follow: a removed or restarted port's timer stops, a new probeEveryMs starts.
      recovery.syncProbes();
      await exportChange.commit((id) => ports.get(id));
      app.reconfigure({ tokens: next.auth.tokens, rateLimit: next.rateLimit });
      await webhooks.configure(next.webhooks);
      tokens = next.auth.tokens;
      // pino children made without a level of their own (every one here) read the root's.
      logger.level = next.logLevel;
      for (const port of ports.list()) port.capture.lines.resize(next.retainLines);
      current = next;
      return {
        added: plan.added.map((port) => port.id),
        removed: plan.removed,
        changed: plan.changed.map((port) => port.id),
        unchanged: plan.unchanged,
      };
    };
    // One reload at a time: a second waits for the first and then compares with its outcome.
    let reloads: Promise<unknown> = Promise.resolve();
    reload = () => {
      const loadConfig = options.loadConfig;
      if (loadConfig === undefined) {
        return Promise.reject(
          new BridgeError("CONFIG_INVALID", "this daemon was not started from a config file"),
        );
      }
      const run = reloads.then(async () => apply(await loadConfig()));
      reloads = run.catch(() => undefined);
      return run;
    };
    const reloadLog = logger.child({ component: "reload" });
    let closing: Promise<void> | null = null;
    return {
      app,
      ports,
      exports,
      ssh,
      url,
      reload: () => reload(),
      async reloadBySignal(signal) {
        const who = { requestId: randomUUID(), token: `(${signal})`, client: "local", action: "reload" };
        const problem = audit.unavailable();
        if (problem !== null) {
          reloadLog.error({ signal, reason: problem }, "reload refused: the audit file cannot be written");
          return;
        }
        const noAudit = (err: unknown) => reloadLog.error({ err }, "could not write the audit record");
        try {
          const result = await reload();
          reloadLog.info({ signal, ...result }, "config reloaded");
          const counts = { unchanged: result.unchanged.length };
          await audit.append({ ...who, status: 200, ...result, ...counts }).catch(noAudit);
        } catch (err) {
          if (!(err instanceof BridgeError) || err.code !== "CONFIG_INVALID") {
            reloadLog.error({ signal, err }, "reload failed");
            await audit.append({ ...who, status: 500, code: "INTERNAL" }).catch(noAudit);
            return;
          }
          const errors = configProblems(err);
          reloadLog.error({ signal, errors }, "config not reloaded: the old one keeps running");
          await audit.append({ ...who, status: 400, code: "CONFIG_INVALID", errors }).catch(noAudit);
        }
      },
      close(graceMs = 10_000) {
        closing ??= (async () => {
          // Stop taking requests; in-flight sequences finish (bounded), then the wire and the captures close.
          const serverClosed = app.close();
          // Waiting deliveries stay on disk; a receiver that never answers cannot hold the exit.
          await webhooks.close();
          http.closeIdle(); // a half-open connection would hold server.close() until its timeout
          await exports.close();
          await ssh?.close();
          await recovery.close();
          await ports.stopAll(graceMs);
          for (const watch of watches.values()) watch.stop();
          await incidents.flush();
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
