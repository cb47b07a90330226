/**
 * Starts recovery ladders and keeps their guard rails, for every port with a `recover:` block:
 *
 *   IncidentStore.onUpsert ──open incident of a kind in recover.on──┐
 *   POST /ports/:id/recover ────────────────────────────────────────┴─> one ladder per port ─> runLadder
 *
 * A second trigger while a port's ladder runs joins it (nothing new starts); within `cooldownMs` of
 * the last ladder an automatic trigger is left to the watcher; the ladder past `maxPerHour` is not
 * run, its incident closes `quarantined` and the port stays `bad` until an admin lifts it. Every
 * automatic action is audited with the principal `recovery`, and none runs while the audit file
 * cannot be written.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit-log.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import type { PortRegistry } from "../ports/registry.js";
import type { Incident, IncidentStore } from "./incidents.js";
import { runLadder } from "./ladder.js";
import { ladderSteps } from "./ladder-steps.js";
import { PortGuard, type Health } from "./quarantine.js";

/** The audit's principal for what the daemon does on its own. */
export const RECOVERY_PRINCIPAL = "recovery";
/** The longest close() waits for aborted ladders to record their last step. */
const CLOSE_WAIT_MS = 2000;
/** Incident ids already answered (bounded: ids only grow, the oldest are forgotten first). */
const HANDLED_KEPT = 10_000;

export interface RecoveriesOptions {
  readonly ports: PortRegistry;
  readonly store: IncidentStore;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Wall-clock ms (tests replace it). */
  readonly now?: () => number;
}

export class Recoveries {
  private readonly guards = new Map<string, PortGuard>();
  private readonly running = new Map<string, { readonly incident: string; readonly done: Promise<void> }>();
  private readonly handled = new Set<string>();
  private readonly unsubscribe: () => void;
  private closed = false;
  private readonly stopping = new AbortController();
  private readonly now: () => number;

  constructor(private readonly o: RecoveriesOptions) {
    this.now = o.now ?? Date.now;
    this.unsubscribe = o.store.onUpsert((incident) => this.onIncident(incident));
  }

  health(portId: string): Health {
    return this.guards.get(portId)?.health ?? "good";
  }

  /** POST /ports/:id/recover: the incident the ladder records on (a running ladder's, if one runs). */
  trigger(portId: string, who: string): Incident {
    const port = this.o.ports.get(portId);
    const recover = port.config.recover;
    if (recover === undefined) {
      throw new BridgeError(
        "RECOVERY_UNCONFIGURED",
        `port ${port.id} has no recover block: add \`recover: { until: 'login:' }\` to consent to its ladder`,
      );
    }
    const running = this.running.get(port.id);
    if (running) return this.o.store.get(running.incident);
    if (this.guard(port.id).quarantined) {
      throw new BridgeError(
        "PORT_QUARANTINED",
        `port ${port.id} is quarantined (more than ${recover.maxPerHour} recoveries in an hour); ` +
          `DELETE /ports/${port.id}/quarantine lifts it`,
      );
    }
    const incident =
      this.o.store.openOf(port.id) ??
      this.o.store.create(port.id, {
        line: `POST /ports/${port.id}/recover by ${who}`,
        seq: port.capture.lines.next,
        offset: port.capture.size,
      });
    this.remember(incident.id);
    this.start(port, incident.id);
    return this.o.store.get(incident.id);
  }

  /** DELETE /ports/:id/quarantine: automatic actions resume; whether the port was quarantined. */
  lift(portId: string): boolean {
    this.o.ports.get(portId);
    return this.guards.get(portId)?.lift() ?? false;
  }

  /** Waits for running ladders (tests); ladders stop at their next step once closed. */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()].map((run) => run.done));
  }

  /**
   * Stops: running ladders are aborted (their waits, power and command steps end at once) and awaited
   * up to `waitMs`, so their last verdicts are on the incident before the store's final write.
   */
  async close(waitMs = CLOSE_WAIT_MS): Promise<void> {
    this.closed = true;
    this.stopping.abort();
    this.unsubscribe();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, waitMs);
    });
    await Promise.race([this.idle(), late]).finally(() => clearTimeout(timer));
  }

  private guard(portId: string): PortGuard {
    let guard = this.guards.get(portId);
    if (guard === undefined) {
      guard = new PortGuard();
      this.guards.set(portId, guard);
    }
    return guard;
  }

  private remember(id: string): void {
    this.handled.add(id);
    if (this.handled.size > HANDLED_KEPT) {
      const oldest = this.handled.values().next().value;
      if (oldest !== undefined) this.handled.delete(oldest);
    }
  }

  private onIncident(incident: Incident): void {
    if (this.closed || incident.state !== "open" || this.handled.has(incident.id)) return;
    const port = this.o.ports.list().find((p) => p.id === incident.port);
    const recover = port?.config.recover;
    if (port === undefined || recover === undefined) return;
    if (!incident.kinds.some((kind) => recover.on.includes(kind))) return;
    this.remember(incident.id);
    const log = this.o.log.child({ port: port.id, incident: incident.id });
    const running = this.running.get(port.id);
    if (running) {
      log.info({ ladder: running.incident }, "recovery: a ladder already runs on this port; not another");
      return;
    }
    const guard = this.guard(port.id);
    if (guard.quarantined) {
      log.warn("recovery: the port is quarantined; no automatic action");
      this.o.store.end(incident.id, "quarantined");
      return;
    }
    if (guard.cooling(this.now(), recover.cooldownMs)) {
      log.warn({ cooldownMs: recover.cooldownMs }, "recovery: within the cooldown; left to the watcher");
      return;
    }
    this.start(port, incident.id);
  }

  private start(port: Port, incidentId: string): void {
    const recover = port.config.recover!;
    const guard = this.guard(port.id);
    const log = this.o.log.child({ port: port.id, incident: incidentId });
    if (!guard.admit(this.now(), recover.maxPerHour)) {
      log.error(
        { maxPerHour: recover.maxPerHour },
        "recovery: too many recoveries this hour; port quarantined",
      );
      this.o.store.end(incidentId, "quarantined");
      void this.audit(port.id, "quarantine", 200, { incident: incidentId, maxPerHour: recover.maxPerHour });
      return;
    }
    guard.running = true;
    this.o.store.hold(incidentId);
    const done = this.run(port, incidentId, log)
      .catch((err: unknown) => {
        log.error({ err }, "recovery: the ladder failed unexpectedly");
        this.o.store.end(incidentId, "failed");
      })
      .finally(() => {
        guard.ended(this.now());
        this.running.delete(port.id);
      });
    this.running.set(port.id, { incident: incidentId, done });
  }

  private async run(port: Port, incidentId: string, log: Logger): Promise<void> {
    const config = port.config.recover!;
    const steps = ladderSteps(port, config);
    log.warn({ steps: steps.length }, "recovery: ladder started");
    const outcome = await runLadder({
      port,
      config,
      steps,
      record: (step) => this.o.store.addStep(incidentId, step),
      audit: (action, status, detail) =>
        this.audit(port.id, action, status, { incident: incidentId, ...detail }),
      allowed: () => (this.closed ? "the daemon is stopping" : this.o.audit.unavailable()),
      signal: this.stopping.signal,
    });
    this.o.store.end(incidentId, outcome);
    await this.audit(port.id, "recover", 200, { incident: incidentId, outcome });
    log.warn({ outcome }, "recovery: ladder ended");
  }

  private async audit(port: string, action: string, status: number, detail: Record<string, unknown>) {
    try {
      await this.o.audit.append({
        requestId: randomUUID(),
        token: RECOVERY_PRINCIPAL,
        client: "daemon",
        action,
        port,
        status,
        ...detail,
      });
    } catch (err) {
      this.o.log.error({ err, action }, "recovery: could not write the audit record");
    }
  }
}
