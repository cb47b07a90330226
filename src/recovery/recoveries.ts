/**
 * Starts recovery ladders and keeps their guard rails, for every port with a `recover:` block:
 *
 *   IncidentStore.onUpsert ──open incident of a kind in recover.on──┐
 *   POST /ports/:id/recover ────────────────────────────────────────┤
 *   periodic probe (probeEveryMs) ──no-response / unresponsive──────┴─> one ladder per port ─> runLadder
 *
 * A second trigger while a port's ladder runs joins it (nothing new starts); within `cooldownMs` of
 * the last ladder an automatic trigger is left to the watcher; the ladder past `maxPerHour` is not
 * run, its incident closes `quarantined` and the port stays `bad` until an admin lifts it. Every
 * automatic action is audited with the principal `recovery`, and none runs while the audit file
 * cannot be written.
 *
 * Once a ladder has restarted the target (b, c, power, a command), a failure report of a kind in `on`
 * is the new boot's: it opens its own incident (`follows` the ladder's), ends the ladder's wait for
 * `until` as failed, and, once that ladder ends, starts the next one after `cooldownMs` (counted in
 * `maxPerHour`, so a board that fails at every boot ends quarantined).
 *
 * A ladder started by `silence` or a periodic probe is a suspicion: its first probe that finds the
 * target alive ends it `observed`. A periodic probe never runs while the port's ladder does, while
 * the port is quarantined or within `cooldownMs`.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit-log.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import type { PortRegistry } from "../ports/registry.js";
import type { Incident, IncidentStore } from "./incidents.js";
import {
  PROBE_MS,
  isAlive,
  probeOutput,
  runLadder,
  verdictOf,
  type FailureWatch,
  type LadderEnd,
} from "./ladder.js";
import { ladderSteps } from "./ladder-steps.js";
import { PeriodicProbes } from "./periodic-probes.js";
import { probePort } from "./probe.js";
import { PortGuard, type Health } from "./quarantine.js";

/** The audit's principal for what the daemon does on its own. */
export const RECOVERY_PRINCIPAL = "recovery";
/** The longest close() waits for aborted ladders to record their last step. */
const CLOSE_WAIT_MS = 2000;
/** Incident ids already answered (bounded: ids only grow, the oldest are forgotten first). */
const HANDLED_KEPT = 10_000;

/** A ladder's end (the metrics): `seconds` is how long it ran, absent when none ran (quarantined). */
export interface RecoveryEnd {
  readonly port: string;
  readonly outcome: NonNullable<Incident["outcome"]>;
  readonly seconds?: number;
}

export interface RecoveriesOptions {
  readonly ports: PortRegistry;
  readonly store: IncidentStore;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Wall-clock ms (tests replace it). */
  readonly now?: () => number;
}

/** A port's running ladder. */
interface Running {
  readonly incident: string;
  done: Promise<void>;
  /** A restarting step went out: a failure report now is the new boot's (see onIncident). */
  restarted: boolean;
  /** The new boot's latest failure incident: the next ladder's, once this one ends. */
  next: string | null;
  /** The ladder's waits for `until`, told of the new boot's failure. */
  readonly failures: Set<(line: string) => void>;
}

export class Recoveries {
  private readonly guards = new Map<string, PortGuard>();
  private readonly running = new Map<string, Running>();
  /** A new boot's failure waiting out the cooldown before its ladder (per port). */
  private readonly deferred = new Map<string, NodeJS.Timeout>();
  /** Ladders not yet fully done: ended ones still write their last audit record (idle, close wait). */
  private readonly finishing = new Set<Promise<void>>();
  private readonly handled = new Set<string>();
  private readonly unsubscribe: () => void;
  private closed = false;
  private readonly stopping = new AbortController();
  private readonly now: () => number;
  private readonly endListeners = new Set<(end: RecoveryEnd) => void>();
  private readonly healthListeners = new Set<(port: string, health: Health) => void>();
  private readonly probes: PeriodicProbes;

  constructor(private readonly o: RecoveriesOptions) {
    this.now = o.now ?? Date.now;
    this.unsubscribe = o.store.onUpsert((incident) => this.onIncident(incident));
    this.probes = new PeriodicProbes((port) => this.probeTick(port), o.log);
    this.syncProbes();
  }

  /** Starts, replaces or stops periodic probes to match the ports (after a reload). */
  syncProbes(): void {
    this.probes.sync(this.o.ports.list());
  }

  /** The ports whose periodic probe runs (tests). */
  get probing(): string[] {
    return this.probes.ports;
  }

  /** Calls `listener` as each ladder ends (the metrics); returns the unsubscribe. */
  onEnd(listener: (end: RecoveryEnd) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Calls `listener` as a port's health changes (live events); returns the unsubscribe. */
  onHealth(listener: (port: string, health: Health) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
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
    this.start(port, incident.id, false);
    return this.o.store.get(incident.id);
  }

  /** DELETE /ports/:id/quarantine: automatic actions resume; whether the port was quarantined. */
  lift(portId: string): boolean {
    this.o.ports.get(portId);
    return this.guards.get(portId)?.lift() ?? false;
  }

  /** Waits for running ladders (tests); ladders stop at their next step once closed. */
  async idle(): Promise<void> {
    await Promise.all([...this.finishing]);
  }

  /**
   * Stops: running ladders are aborted (their waits, power and command steps end at once) and awaited
   * up to `waitMs`, so their last verdicts are on the incident before the store's final write.
   */
  async close(waitMs = CLOSE_WAIT_MS): Promise<void> {
    this.closed = true;
    this.probes.close();
    for (const timer of this.deferred.values()) clearTimeout(timer);
    this.deferred.clear();
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
      guard = new PortGuard((health) => {
        for (const listener of this.healthListeners) listener(portId, health);
      });
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
    const triggers = incident.kinds.filter((kind) => (recover.on as readonly string[]).includes(kind));
    if (triggers.length === 0) return;
    this.remember(incident.id);
    const log = this.o.log.child({ port: port.id, incident: incident.id });
    const running = this.running.get(port.id);
    // Silence is no failure report (a booting target may be quiet): it joins the running ladder as before.
    if (running?.restarted && triggers.some((kind) => kind !== "silence")) {
      // The ladder restarted the target: this is the new boot failing, not more of the old failure.
      this.o.store.follow(incident.id, running.incident);
      // Held until its own ladder (or its end): the watcher's quiet must not close it meanwhile.
      this.o.store.hold(incident.id);
      if (running.next !== null) this.o.store.end(running.next, "observed"); // a later boot's supersedes it
      running.next = incident.id;
      for (const tell of running.failures) tell(incident.trigger.line);
      log.warn({ follows: running.incident }, "recovery: the target failed again after the ladder's restart");
      return;
    }
    if (running) {
      log.info({ ladder: running.incident }, "recovery: a ladder already runs on this port; not another");
      return;
    }
    const guard = this.guard(port.id);
    if (guard.quarantined) {
      log.warn("recovery: the port is quarantined; no automatic action");
      this.o.store.end(incident.id, "quarantined");
      this.ended({ port: port.id, outcome: "quarantined" });
      return;
    }
    if (guard.cooling(this.now(), recover.cooldownMs)) {
      log.warn({ cooldownMs: recover.cooldownMs }, "recovery: within the cooldown; left to the watcher");
      return;
    }
    // Silence alone is a suspicion (an idle console is quiet too); any failure report is not.
    this.start(
      port,
      incident.id,
      triggers.every((kind) => kind === "silence"),
    );
  }

  /**
   * One periodic probe of `port`: skipped while its ladder runs, while quarantined, within the
   * cooldown or while the audit cannot be written; a kernel that does not answer BREAK + h (or
   * userspace no prompt, where probe.userspace is on) starts the ladder on a `probe` incident, or on
   * the port's open incident. Not while the console is down: a probe that could not be sent, or
   * whose console went down while it waited, proves nothing.
   */
  private async probeTick(port: Port): Promise<void> {
    const recover = port.config.recover;
    const current = (): boolean => !this.closed && this.o.ports.list().includes(port);
    if (recover === undefined || !current() || this.running.has(port.id)) return;
    // A console that is down cannot carry the probe: its answer would say nothing about the target.
    if (port.info().state !== "open") return;
    const guard = this.guard(port.id);
    if (guard.quarantined || guard.cooling(this.now(), recover.cooldownMs)) return;
    const log = this.o.log.child({ port: port.id });
    const refused = this.o.audit.unavailable();
    if (refused !== null) {
      log.warn({ reason: refused }, "recovery: periodic probe not sent: the audit file cannot be written");
      return;
    }
    const started = port.clock.now();
    const result = await probePort(port, PROBE_MS);
    const downSince = port.info().state !== "open";
    await this.audit(port.id, "probe", 200, {
      periodic: true,
      kernel: result.kernel,
      userspace: result.userspace,
    });
    // The console went down while the probe waited: its silence says nothing about the target.
    if (isAlive(result) || result.evidence.kernel.verdict === "not-sent" || downSince) return;
    // The port's ladder may have started while the probe ran (its own trigger): that one stands.
    if (!current() || this.running.has(port.id) || guard.quarantined) return;
    const summary = `periodic probe: kernel ${result.kernel}, userspace ${result.userspace}`;
    log.warn({ kernel: result.kernel, userspace: result.userspace }, "recovery: " + summary);
    const incident =
      this.o.store.openOf(port.id) ??
      this.o.store.create(
        port.id,
        { line: summary, seq: port.capture.lines.next, offset: port.capture.size },
        ["probe"],
      );
    this.remember(incident.id);
    this.o.store.addStep(
      incident.id,
      verdictOf("periodic probe", result.kernel, probeOutput(result), started),
    );
    this.start(port, incident.id, true);
  }

  private ended(end: RecoveryEnd): void {
    for (const listener of this.endListeners) {
      try {
        listener(end);
      } catch (err) {
        this.o.log.error({ err }, "recovery: a listener of ladder ends failed");
      }
    }
  }

  private start(port: Port, incidentId: string, observe: boolean): void {
    const recover = port.config.recover!;
    const guard = this.guard(port.id);
    const log = this.o.log.child({ port: port.id, incident: incidentId });
    if (!guard.admit(this.now(), recover.maxPerHour)) {
      log.error(
        { maxPerHour: recover.maxPerHour },
        "recovery: too many recoveries this hour; port quarantined",
      );
      this.o.store.end(incidentId, "quarantined");
      this.ended({ port: port.id, outcome: "quarantined" });
      void this.audit(port.id, "quarantine", 200, { incident: incidentId, maxPerHour: recover.maxPerHour });
      return;
    }
    guard.running = true;
    this.o.store.hold(incidentId);
    const state: Running = {
      incident: incidentId,
      done: Promise.resolve(),
      restarted: false,
      next: null,
      failures: new Set(),
    };
    const began = performance.now();
    let finished = false;
    const end = (outcome: LadderEnd): void => {
      if (finished) return;
      finished = true;
      this.o.store.end(incidentId, outcome);
      // The metrics count the outcome as the incident shows it.
      this.ended({ port: port.id, outcome, seconds: (performance.now() - began) / 1000 });
      // Over once its outcome is recorded: a trigger now starts anew, not onto this ended incident.
      guard.ended(this.now());
      if (this.running.get(port.id)?.incident === incidentId) this.running.delete(port.id);
    };
    const done: Promise<void> = this.run(port, state, log, observe, end)
      .catch((err: unknown) => {
        log.error({ err }, "recovery: the ladder failed unexpectedly");
        end("failed");
      })
      .finally(() => this.finishing.delete(done));
    state.done = done;
    this.running.set(port.id, state);
    this.finishing.add(done);
  }

  /** What a ladder's restarting step calls: the watcher lets go of its incidents; failures are told. */
  private restarting(state: Running): FailureWatch {
    state.restarted = true;
    this.o.store.detach(state.incident);
    if (state.next !== null) this.o.store.detach(state.next);
    let tell: ((line: string) => void) | null = null;
    const failed = new Promise<string>((resolve) => {
      tell = resolve;
    });
    state.failures.add(tell!);
    return { failed, close: () => state.failures.delete(tell!) };
  }

  /**
   * The ladder on `port` ended while its restart's boot failed again: that failure's ladder starts
   * after `cooldownMs` (never sooner, so a board failing at every boot is not cycled in a loop), or
   * the port is quarantined past `maxPerHour`.
   */
  private defer(port: Port, incidentId: string, cooldownMs: number): void {
    const log = this.o.log.child({ port: port.id, incident: incidentId });
    log.warn({ cooldownMs }, "recovery: the new boot's failure starts the next ladder after the cooldown");
    clearTimeout(this.deferred.get(port.id));
    const timer = setTimeout(() => {
      this.deferred.delete(port.id);
      const current = this.o.ports.list().find((p) => p.id === port.id);
      if (this.closed) return;
      if (current?.config.recover === undefined || this.running.has(port.id)) {
        log.info(
          "recovery: no recover block any more, or a ladder already runs: the deferred one is not run",
        );
        this.o.store.end(incidentId, "observed");
        return;
      }
      if (this.guard(port.id).quarantined) {
        log.warn("recovery: the port is quarantined; no automatic action");
        this.o.store.end(incidentId, "quarantined");
        this.ended({ port: port.id, outcome: "quarantined" });
        return;
      }
      this.start(current, incidentId, false);
    }, cooldownMs);
    this.deferred.set(port.id, timer);
  }

  private async run(
    port: Port,
    state: Running,
    log: Logger,
    observe: boolean,
    end: (outcome: LadderEnd) => void,
  ): Promise<void> {
    const config = port.config.recover!;
    const incidentId = state.incident;
    const steps = ladderSteps(port, config);
    log.warn({ steps: steps.length, observe }, "recovery: ladder started");
    const outcome = await runLadder({
      port,
      config,
      steps,
      record: (step) => this.o.store.addStep(incidentId, step),
      dumpFile: this.o.store.dumpFile(incidentId),
      audit: (action, status, detail) =>
        this.audit(port.id, action, status, { incident: incidentId, ...detail }),
      allowed: () => (this.closed ? "the daemon is stopping" : this.o.audit.unavailable()),
      signal: this.stopping.signal,
      observe,
      restarting: () => this.restarting(state),
    });
    end(outcome);
    await this.audit(port.id, "recover", 200, { incident: incidentId, outcome });
    log.warn({ outcome }, "recovery: ladder ended");
    // A ladder that recovered after all (a later step) leaves the earlier boot's failure as evidence only.
    if (state.next === null || this.closed) return;
    if (outcome === "failed") this.defer(port, state.next, config.cooldownMs);
    else this.o.store.end(state.next, "observed");
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
