/**
 * Incidents of every port: kept in memory (at most MAX_KEPT, the oldest closed ones forgotten first)
 * and each in a file of its own under <captureDir>/incidents/<id>.json, its report and context copied
 * in (≤ MAX_FILE_BYTES), so an incident survives rotation of the raw capture and daemon restarts.
 *
 *   watch.ts (per port) ──upsert──> IncidentStore ──write (tmp + rename)──> incidents/<id>.json
 *                                        └── list / get (GET /incidents) ; counts (metrics)
 *
 * Ids are a sequence over all ports; `next` in a listing is the id the next incident will get, so a
 * harness that records it before its test and passes it as `since` afterwards sees only newer ones.
 */
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { rename, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { BridgeError } from "../errors.js";
import type { DetectedIncident, Span } from "./detect/classifier.js";
import type { IncidentKind } from "./detect/headers.js";

export const MAX_KEPT = 1000;
export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_PAGE = 100;
/** QMP events kept per incident: the first ones (the failure and what followed it) matter. */
export const MAX_EVENTS = 64;

/** An out-of-band event on the port's machine while the incident was open (QMP: GUEST_PANICKED, STOP...). */
export interface IncidentEvent {
  readonly event: string;
  /** QEMU's timestamp, ISO. */
  readonly at: string;
  readonly data?: unknown;
}

export interface IncidentStep {
  readonly step: string;
  readonly verdict: string;
  readonly output: string[];
  readonly startedAt: string;
  readonly ms: number;
}

export interface Incident {
  readonly id: string;
  readonly port: string;
  readonly kinds: IncidentKind[];
  readonly state: "open" | "closed";
  readonly opened: string;
  readonly closed?: string;
  readonly trigger: { readonly line: string; readonly seq: number; readonly offset: number };
  readonly report: string[];
  readonly context: string[];
  readonly steps: IncidentStep[];
  readonly outcome?: "recovered" | "failed" | "quarantined" | "observed";
  /** Each report's capture byte offsets [start, end). */
  readonly spans: Span[];
  readonly patterns: { readonly name: string; readonly severity: string }[];
  /** The report was cut at its bound; later lines are only in the raw capture. */
  readonly truncated: boolean;
  /** QMP events while it was open, in QEMU's order (≤ MAX_EVENTS); absent: none. */
  readonly events?: IncidentEvent[];
  /** Set once the capture rotated away raw bytes this incident points at (see RawRotated). */
  readonly raw?: RawRotated;
  /** The incident whose ladder restarted the target into this failure (a new boot's, not more of it). */
  readonly follows?: string;
}

/**
 * The raw capture segments an incident's offsets (trigger, spans) point into were deleted by rotation
 * (capture.maxTotalBytes): its own copy of report and context stays; GET /ports/:id/capture no longer
 * has those bytes.
 */
export interface RawRotated {
  /** When the daemon saw them go: the rotation, or the start-up that found them gone. */
  readonly rotatedAt: string;
  /** The capture's oldest retained offset then: every byte before it is gone. */
  readonly firstRetained: number;
  /** True: every byte the incident points at is gone; false: its start is, the rest is still on disk. */
  readonly whole: boolean;
}

export type IncidentChangeListener = (incident: Incident, before: Incident["state"] | null) => void;

export interface IncidentQuery {
  readonly port?: string;
  readonly since?: number;
  readonly state?: "open" | "closed";
  readonly limit?: number;
  /** The ports the caller may see; null: all. */
  readonly ports: ReadonlySet<string> | null;
}

export class IncidentStore {
  /** By numeric id, ascending. */
  private readonly incidents = new Map<number, Incident>();
  private nextId: number;
  private readonly writes = new Map<number, Promise<void>>();
  private readonly opened = new Map<string, number>();
  /** Open incidents: the classifier's object, whose report grows between changes. */
  private readonly live = new Map<number, { port: string; detected: DetectedIncident }>();
  /** Incidents a recovery ladder ended: their outcome stands over the watcher's later `observed`. */
  private readonly ended = new Map<number, { outcome: NonNullable<Incident["outcome"]>; closed: string }>();
  /** Incidents a ladder runs on: open until it ends, whatever the watcher's quiet says. */
  private readonly held = new Set<number>();
  private readonly listeners = new Set<(incident: Incident) => void>();
  /** Told when a ladder ends an incident: its watcher stops adding to it (see onEnded). */
  private readonly endListeners = new Set<(port: string, id: string) => void>();
  /** Every change, from whichever path (watcher, ladder, API): the live events (events.ts). */
  private readonly changes = new Set<IncidentChangeListener>();

  private constructor(
    private readonly dir: string | null,
    private readonly log: Logger,
    private readonly maxKept: number,
  ) {
    this.nextId = 1;
  }

  /** A store that keeps nothing on disk (in-process tests of the HTTP layer). */
  static inMemory(log: Logger, maxKept = MAX_KEPT): IncidentStore {
    return new IncidentStore(null, log, maxKept);
  }

  /** Reads the incidents a previous run left (the newest maxKept); an unreadable file is skipped, logged. */
  static open(captureDir: string, log: Logger, maxKept = MAX_KEPT): IncidentStore {
    const dir = path.join(captureDir, "incidents");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const store = new IncidentStore(dir, log, maxKept);
    const ids = readdirSync(dir)
      .map((name) => /^(\d{1,12})\.json$/.exec(name)?.[1])
      .filter((id): id is string => id !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const id of ids.slice(-maxKept)) {
      try {
        const incident = JSON.parse(readFileSync(path.join(dir, `${id}.json`), "utf8")) as Incident;
        // An incident open when the daemon stopped can no longer be watched: closed as observed.
        store.incidents.set(
          id,
          incident.state === "open" ? { ...incident, state: "closed", outcome: "observed" } : incident,
        );
      } catch (err) {
        log.warn({ err, file: `${id}.json` }, "incidents: skipped an unreadable incident file");
      }
    }
    store.nextId = (ids.at(-1) ?? 0) + 1;
    return store;
  }

  /** The id the next incident gets (the watcher's classifier asks, synchronously). */
  newId(): string {
    return String(this.nextId++);
  }

  get next(): number {
    return this.nextId;
  }

  /** Records an incident's new state and writes its file; while open, reads see its report grow. */
  upsert(port: string, detected: DetectedIncident): Incident {
    const id = Number(detected.id);
    const previous = this.incidents.get(id);
    const incident = this.settled(id, snapshot(port, detected, previous));
    for (const kind of incident.kinds) if (!previous?.kinds.includes(kind)) this.count(port, kind);
    this.incidents.set(id, incident);
    if (detected.state === "open") this.live.set(id, { port, detected });
    else this.live.delete(id);
    this.forgetOldest();
    this.write(id, incident);
    this.emit(incident, previous?.state ?? null);
    for (const listener of this.listeners) listener(incident);
    return incident;
  }

  /** Calls `listener` with every incident the watchers open or grow; returns the unsubscribe. */
  onUpsert(listener: (incident: Incident) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Calls `listener` when a ladder ends an incident (recovered, failed, quarantined): closed is final,
   * so the port's watcher lets go of it and a later report opens a new incident. Returns the unsubscribe.
   */
  onEnded(listener: (port: string, id: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Calls `listener` after every change of any incident, with its state before (null: new). */
  onChange(listener: IncidentChangeListener): () => void {
    this.changes.add(listener);
    return () => this.changes.delete(listener);
  }

  private emit(incident: Incident, before: Incident["state"] | null): void {
    for (const listener of this.changes) listener(incident, before);
  }

  /** An incident with no report of its own (a ladder asked for through the API, a periodic probe's). */
  create(port: string, trigger: Incident["trigger"], kinds: readonly IncidentKind[] = []): Incident {
    const id = Number(this.newId());
    for (const kind of kinds) this.count(port, kind);
    const incident: Incident = {
      id: String(id),
      port,
      kinds: [...kinds],
      state: "open",
      opened: new Date().toISOString(),
      trigger,
      report: [],
      context: [],
      steps: [],
      spans: [],
      patterns: [],
      truncated: false,
    };
    this.incidents.set(id, incident);
    this.forgetOldest();
    this.write(id, incident);
    this.emit(incident, null);
    return incident;
  }

  /** The newest incident of `port` still open, if any. */
  openOf(port: string): Incident | null {
    for (const [id, incident] of [...this.incidents].reverse()) {
      if (incident.port === port && incident.state === "open") return this.view(id, incident);
    }
    return null;
  }

  /** A ladder step's verdict, appended to the incident's `steps` and written. */
  addStep(id: string, step: IncidentStep): void {
    this.change(id, (incident) => ({ ...incident, steps: [...incident.steps, step] }));
  }

  /** A QMP event on the incident's machine, appended to its `events` (the first MAX_EVENTS) and written. */
  addEvent(id: string, event: IncidentEvent): void {
    this.change(id, (incident) =>
      (incident.events?.length ?? 0) >= MAX_EVENTS
        ? incident
        : { ...incident, events: [...(incident.events ?? []), event] },
    );
  }

  /** A ladder starts on the incident: it stays open until `end`. */
  hold(id: string): void {
    this.held.add(Number(id));
    this.change(id, (incident) => this.settled(Number(id), incident));
  }

  /**
   * The capture of `port` now starts at `firstRetained` (rotation deleted what was before, now or
   * while the daemon was down): each incident pointing before it says so in `raw`, and is written.
   */
  rotated(port: string, firstRetained: number): void {
    const at = new Date().toISOString();
    for (const [id, incident] of this.incidents) {
      if (incident.port !== port) continue;
      const offsets = [incident.trigger.offset, ...incident.spans.map((span) => span.start)].filter(
        (offset) => offset >= 0,
      );
      if (offsets.length === 0 || Math.min(...offsets) >= firstRetained) continue;
      const end = Math.max(incident.trigger.offset + 1, ...incident.spans.map((span) => span.end));
      const whole = end <= firstRetained;
      if (incident.raw !== undefined && (incident.raw.whole || !whole)) continue; // nothing new to say
      this.change(String(id), (kept) => ({ ...kept, raw: { rotatedAt: at, firstRetained, whole } }));
    }
  }

  /**
   * A ladder restarted the target: the port's watcher lets go of incident `id` (it stays open, held),
   * so a failure of the new boot opens an incident of its own.
   */
  detach(id: string): void {
    const port = this.incidents.get(Number(id))?.port;
    if (port !== undefined) for (const listener of this.endListeners) listener(port, id);
  }

  /** Incident `id` is the failure of the boot that incident `previous`'s ladder started. */
  follow(id: string, previous: string): void {
    this.change(id, (incident) => ({ ...incident, follows: previous }));
  }

  /** A ladder's end: the incident closes with `outcome`, whatever the watcher later sees. */
  end(id: string, outcome: NonNullable<Incident["outcome"]>): void {
    const closed = new Date().toISOString();
    const key = Number(id);
    this.held.delete(key);
    this.ended.set(key, { outcome, closed });
    // The report as collected so far is what the closed incident keeps: nothing joins it after this.
    const live = this.live.get(key);
    this.live.delete(key);
    this.change(id, (incident) =>
      this.settled(key, live === undefined ? incident : snapshot(live.port, live.detected, incident)),
    );
    const port = this.incidents.get(key)?.port;
    if (port !== undefined) for (const listener of this.endListeners) listener(port, id);
  }

  private change(id: string, update: (incident: Incident) => Incident): void {
    const key = Number(id);
    const kept = this.incidents.get(key);
    if (kept === undefined) return;
    const next = update(kept);
    this.incidents.set(key, next);
    const view = this.view(key, next);
    this.write(key, view);
    this.emit(view, kept.state);
  }

  private settled(id: number, incident: Incident): Incident {
    if (this.held.has(id) && incident.state === "closed") {
      const open: Incident & { closed?: string; outcome?: Incident["outcome"] } = {
        ...incident,
        state: "open",
      };
      delete open.closed;
      delete open.outcome;
      return open;
    }
    const ended = this.ended.get(id);
    return ended === undefined ? incident : { ...incident, state: "closed", ...ended };
  }

  /** The incident as kept, or as it stands now while its report is still being collected. */
  private view(id: number, kept: Incident): Incident {
    const live = this.live.get(id);
    return live === undefined ? kept : this.settled(id, snapshot(live.port, live.detected, kept));
  }

  get(id: string): Incident {
    const kept = /^\d{1,12}$/.test(id) ? this.incidents.get(Number(id)) : undefined;
    if (kept === undefined) {
      throw new BridgeError(
        "INCIDENT_NOT_FOUND",
        `no incident "${id}" is kept; GET /incidents lists them (the oldest ${MAX_KEPT} beyond are forgotten)`,
      );
    }
    return this.view(Number(id), kept);
  }

  /** Incidents from `since` (an id; default: the oldest kept), oldest first, and the `since` to read on. */
  list(query: IncidentQuery): { incidents: Incident[]; next: number } {
    const limit = Math.min(query.limit ?? MAX_PAGE, MAX_PAGE);
    const out: Incident[] = [];
    let next = this.nextId;
    for (const [id, incident] of this.incidents) {
      if (id < (query.since ?? 0)) continue;
      if (query.port !== undefined && incident.port !== query.port) continue;
      if (query.ports !== null && !query.ports.has(incident.port)) continue;
      if (query.state !== undefined && incident.state !== query.state) continue;
      if (out.length === limit) {
        next = id;
        break;
      }
      out.push(this.view(id, incident));
    }
    return { incidents: out, next };
  }

  /** Incidents opened since start-up by port and kind (the metrics). */
  counts(): ReadonlyMap<string, number> {
    return this.opened;
  }

  /** Waits for the files being written (shutdown, tests). */
  async flush(): Promise<void> {
    for (const [id, live] of this.live)
      this.write(id, this.settled(id, snapshot(live.port, live.detected, this.incidents.get(id))));
    await Promise.all([...this.writes.values()]);
  }

  private count(port: string, kind: string): void {
    const key = `${port}\u0000${kind}`;
    this.opened.set(key, (this.opened.get(key) ?? 0) + 1);
  }

  private forgetOldest(): void {
    if (this.incidents.size <= this.maxKept) return;
    for (const [id, incident] of this.incidents) {
      if (this.incidents.size <= this.maxKept) break;
      if (incident.state === "open") continue;
      this.incidents.delete(id);
      this.ended.delete(id);
      const file = this.file(id);
      if (file !== null) this.chain(id, () => unlink(file).catch(() => undefined));
      const dump = this.dumpFile(String(id));
      if (dump !== null) this.chain(id, () => unlink(dump).catch(() => undefined));
    }
  }

  /** Where a `qemu-dump` step has QEMU write the incident's memory dump; null: nothing on disk. */
  dumpFile(id: string): string | null {
    return this.dir === null ? null : path.join(this.dir, `${Number(id)}.kdump`);
  }

  private file(id: number): string | null {
    return this.dir === null ? null : path.join(this.dir, `${id}.json`);
  }

  /** One write per incident at a time; a later state replaces an earlier one on disk (tmp + rename). */
  private write(id: number, incident: Incident): void {
    const file = this.file(id);
    if (file === null) return;
    const text = boundedJson(incident);
    this.chain(id, async () => {
      const tmp = `${file}.tmp`;
      try {
        await writeFile(tmp, text, { mode: 0o600 });
        await rename(tmp, file);
      } catch (err) {
        this.log.error({ err, incident: id }, "incidents: could not write the incident file");
      }
    });
  }

  private chain(id: number, task: () => Promise<void>): void {
    const run = (this.writes.get(id) ?? Promise.resolve()).then(task);
    this.writes.set(id, run);
    void run.finally(() => {
      if (this.writes.get(id) === run) this.writes.delete(id);
    });
  }
}

/** The classifier's incident as the store serves it, with what only the store adds (steps, raw). */
function snapshot(port: string, detected: DetectedIncident, kept: Kept | undefined): Incident {
  return {
    id: detected.id,
    port,
    kinds: [...detected.kinds],
    state: detected.state,
    opened: detected.opened,
    ...(detected.closed === undefined ? {} : { closed: detected.closed }),
    trigger: detected.trigger,
    report: [...detected.report],
    context: [...detected.context],
    steps: kept?.steps ?? [],
    ...(detected.outcome === undefined ? {} : { outcome: detected.outcome }),
    spans: detected.spans.map((span) => ({ ...span })),
    patterns: detected.patterns.map((p) => ({ ...p })),
    truncated: detected.truncated,
    ...(kept?.events === undefined ? {} : { events: kept.events }),
    ...(kept?.raw === undefined ? {} : { raw: kept.raw }),
    ...(kept?.follows === undefined ? {} : { follows: kept.follows }),
  };
}

type Kept = Pick<Incident, "steps" | "raw" | "events" | "follows">;

/** The incident as JSON of at most MAX_FILE_BYTES: report lines dropped from the end (marked) until it fits. */
export function boundedJson(incident: Incident): string {
  let text = JSON.stringify(incident);
  if (Buffer.byteLength(text) <= MAX_FILE_BYTES) return text;
  let report = incident.report;
  let context = incident.context;
  while (Buffer.byteLength(text) > MAX_FILE_BYTES) {
    if (report.length > 0) report = report.slice(0, Math.floor(report.length / 2));
    else context = context.slice(Math.ceil(context.length / 2));
    text = JSON.stringify({ ...incident, report, context, truncated: true });
    if (report.length === 0 && context.length === 0) break;
  }
  return text;
}
