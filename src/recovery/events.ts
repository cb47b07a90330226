/**
 * The daemon's live events (GET /events): incidents opened / updated / closed and each port's state
 * and health, numbered in one sequence and kept in a bounded ring, so a client that reconnects with
 * the last id it saw gets what it missed, or `missed` when that has left the ring.
 *
 *   IncidentStore.onChange ───────────────┐
 *   Port.onState, Recoveries.onHealth ────┴─> EventHub ─ring (ringSize)─> EventStream (≤ queueMax) ─> SSE
 *
 * Every change is pushed by the layer that makes it (no sampling: a change however short shows).
 *
 * Each stream's queue is bounded: a reader that falls queueMax events behind is cut, its queue
 * dropped for one final `cut` event. Streams are capped per daemon and per token.
 */
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import type { PortRegistry } from "../ports/registry.js";
import type { Incident, IncidentStore } from "./incidents.js";
import type { Health } from "./quarantine.js";

export interface EventLimits {
  /** Events kept for Last-Event-ID resumes. */
  readonly ringSize: number;
  /** Events one stream may have waiting before it is cut. */
  readonly queueMax: number;
  readonly maxStreams: number;
  readonly maxStreamsPerToken: number;
  /** A comment line this often on an idle stream, so proxies keep it open. */
  readonly heartbeatMs: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  ringSize: 1000,
  queueMax: 1000,
  maxStreams: 64,
  maxStreamsPerToken: 8,
  heartbeatMs: 15_000,
};

export type EventName =
  | "incident.opened"
  | "incident.updated"
  | "incident.closed"
  | "port.state"
  | "port.health"
  /** Only on one stream: the events after Last-Event-ID are no longer kept. */
  | "missed"
  /** Only on one stream, last: the stream ends (slow reader, shutdown). */
  | "cut";

export interface BridgeEvent {
  /** `<run>-<seq>`: the run part changes at each daemon start, so an old id is known as such. */
  readonly id: string;
  readonly name: EventName;
  /** The port the event is about; null: a stream's own event. */
  readonly port: string | null;
  readonly data: Readonly<Record<string, unknown>>;
}

/** The trigger line's share of an event (the line itself can be 8 KiB). */
const TRIGGER_CHARS = 512;

/** What an incident event carries: enough to update a list; GET /incidents/:id has the rest. */
function summary(incident: Incident): Record<string, unknown> {
  const last = incident.steps.at(-1);
  return {
    id: incident.id,
    port: incident.port,
    kinds: incident.kinds,
    state: incident.state,
    opened: incident.opened,
    trigger: incident.trigger.line.slice(0, TRIGGER_CHARS),
    ...(incident.closed === undefined ? {} : { closed: incident.closed }),
    ...(incident.outcome === undefined ? {} : { outcome: incident.outcome }),
    steps: incident.steps.length,
    ...(last === undefined ? {} : { lastStep: { step: last.step, verdict: last.verdict } }),
  };
}

function incidentEvent(incident: Incident, before: Incident["state"] | null): EventName {
  if (before === null) return incident.state === "closed" ? "incident.closed" : "incident.opened";
  return before === "open" && incident.state === "closed" ? "incident.closed" : "incident.updated";
}

export interface StreamRequest {
  /** Whose streams count against maxStreamsPerToken (a token name, or the address without auth). */
  readonly key: string;
  /** The ports the caller may see; null: all. */
  readonly ports: ReadonlySet<string> | null;
  /** The Last-Event-ID header, if sent. */
  readonly lastEventId?: string;
}

/** Each port's health and its changes (Recoveries). */
export interface HealthSource {
  health(port: string): Health;
  onHealth(listener: (port: string, health: Health) => void): () => void;
}

export class EventHub {
  private readonly ring: BridgeEvent[] = [];
  private readonly run = Date.now().toString(36);
  private seq = 0;
  private readonly streams = new Set<EventStream>();
  private readonly listeners = new Set<(event: BridgeEvent) => void>();
  private readonly perKey = new Map<string, number>();
  private readonly refusals = { daemon: 0, token: 0 };
  /** The ports followed: the Port object (a reload may replace it), its unsubscribe, its last state. */
  private readonly followed = new Map<string, { port: Port; off: () => void; state: string }>();
  private readonly health = new Map<string, Health>();
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly o: {
      readonly store: IncidentStore;
      readonly ports: PortRegistry;
      readonly health: HealthSource;
      readonly limits?: Partial<EventLimits>;
    },
    readonly limits: EventLimits = { ...DEFAULT_EVENT_LIMITS, ...o.limits },
  ) {
    this.unsubscribe = [
      o.store.onChange((incident, before) =>
        this.publish(incidentEvent(incident, before), incident.port, summary(incident)),
      ),
      o.health.onHealth((port, health) => this.healthChanged(port, health)),
      o.ports.onReplace(() => this.followPorts(true)),
    ];
    this.followPorts(false);
  }

  /** Streams open now (metrics, tests). */
  get open(): number {
    return this.streams.size;
  }

  /** Streams refused at a cap since start-up, by the cap (metrics). */
  get refused(): Readonly<Record<"daemon" | "token", number>> {
    return this.refusals;
  }

  /** A new stream: the kept events after `lastEventId` first, then live ones; TOO_MANY_STREAMS over a cap. */
  subscribe(request: StreamRequest): EventStream {
    const from = request.lastEventId === undefined ? null : this.parse(request.lastEventId);
    const mine = this.perKey.get(request.key) ?? 0;
    if (this.streams.size >= this.limits.maxStreams || mine >= this.limits.maxStreamsPerToken) {
      const daemon = this.streams.size >= this.limits.maxStreams;
      this.refusals[daemon ? "daemon" : "token"] += 1;
      throw new BridgeError(
        "TOO_MANY_STREAMS",
        daemon
          ? `the daemon already serves ${this.limits.maxStreams} event streams; retry later`
          : `"${request.key}" already has ${this.limits.maxStreamsPerToken} event streams open; close one`,
        { details: { limit: daemon ? "daemon" : "token" } },
      );
    }
    this.perKey.set(request.key, mine + 1);
    const start = from !== null && this.resumable(from) ? from.raw : this.current();
    const stream = new EventStream(request.ports, this.limits.queueMax, start, () => {
      this.streams.delete(stream);
      const left = (this.perKey.get(request.key) ?? 1) - 1;
      if (left > 0) this.perKey.set(request.key, left);
      else this.perKey.delete(request.key);
    });
    this.streams.add(stream);
    if (from !== null) this.replay(stream, from);
    return stream;
  }

  /** Every event as it is published (webhooks); returns the unsubscribe. A listener must not throw. */
  onEvent(listener: (event: BridgeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Shutdown: every stream gets its final `cut`; no new events. */
  close(): void {
    for (const off of this.unsubscribe) off();
    for (const { off } of this.followed.values()) off();
    this.followed.clear();
    for (const stream of [...this.streams]) stream.cut("shutdown", "the daemon is stopping");
  }

  private current(): string {
    return `${this.run}-${this.seq}`;
  }

  /** Whether every event after `from` is still in the ring (an id of another run never is). */
  private resumable(from: { run: string; seq: number }): boolean {
    return from.run === this.run && from.seq >= this.seq - this.ring.length && from.seq <= this.seq;
  }

  private replay(stream: EventStream, from: { run: string; seq: number; raw: string }): void {
    if (!this.resumable(from)) {
      stream.push({
        id: this.current(),
        name: "missed",
        port: null,
        data: {
          lastEventId: from.raw,
          oldest: this.ring[0]?.id ?? null,
          hint: "events after lastEventId are no longer kept: re-read GET /incidents and GET /ports; what follows is live",
        },
      });
      return;
    }
    for (const event of this.ring.slice(this.ring.length - (this.seq - from.seq))) stream.push(event);
  }

  private parse(raw: string): { run: string; seq: number; raw: string } {
    const match = /^([0-9a-z]{1,12})-(\d{1,15})$/.exec(raw);
    if (match === null) {
      throw new BridgeError(
        "VALIDATION",
        "header 'last-event-id' must be an id this stream sent (`<run>-<seq>`), as the last one you received",
        { details: { field: "last-event-id" } },
      );
    }
    return { run: match[1]!, seq: Number(match[2]), raw };
  }

  private publish(name: EventName, port: string, data: Record<string, unknown>): void {
    this.seq += 1;
    const event: BridgeEvent = { id: `${this.run}-${this.seq}`, name, port, data };
    this.ring.push(event);
    if (this.ring.length > this.limits.ringSize) this.ring.shift();
    for (const stream of this.streams) stream.push(event);
    for (const listener of this.listeners) listener(event);
  }

  private healthChanged(port: string, health: Health): void {
    if (this.health.get(port) === health) return;
    this.health.set(port, health);
    this.publish("port.health", port, { port, health });
  }

  private stateChanged(port: string, state: string): void {
    const entry = this.followed.get(port);
    if (entry === undefined || entry.state === state) return;
    entry.state = state;
    this.publish("port.state", port, { port, state });
  }

  /**
   * Follows each port's state changes; after a reload, a removed port's last state is `removed`, and
   * a new or restarted one's state is announced if it differs from the last one sent.
   */
  private followPorts(announce: boolean): void {
    const current = new Set<string>();
    for (const port of this.o.ports.list()) {
      current.add(port.id);
      const was = this.followed.get(port.id);
      if (was?.port === port) continue;
      was?.off();
      const off = port.onState((state) => this.stateChanged(port.id, state));
      // A port a reload added starts from nothing, so its first state is announced.
      const last = was?.state ?? (announce ? "" : port.info().state);
      this.followed.set(port.id, { port, off, state: last });
      if (!this.health.has(port.id)) this.health.set(port.id, this.o.health.health(port.id));
      if (announce) this.stateChanged(port.id, port.info().state);
    }
    for (const [id, { off }] of [...this.followed]) {
      if (current.has(id)) continue;
      off();
      this.followed.delete(id);
      this.health.delete(id);
      if (announce) this.publish("port.state", id, { port: id, state: "removed" });
    }
  }
}

/**
 * One client's events, in order, at most `queueMax` waiting; `next()` hands them to the writer as the
 * socket takes them. Past the bound the stream is cut: what waits is dropped for one `cut` event.
 */
export class EventStream {
  private queue: BridgeEvent[] = [];
  private ended = false;
  private wake: (() => void) | null = null;
  private released = false;
  private endedNow: () => void = () => undefined;
  /** Settles when the stream ends (cut or closed): a writer waiting for the socket to drain stops. */
  readonly done = new Promise<void>((resolve) => (this.endedNow = resolve));

  constructor(
    private readonly ports: ReadonlySet<string> | null,
    private readonly queueMax: number,
    /** The id the client has everything up to: the `cut` event carries it, to resume from. */
    private lastDelivered: string,
    private readonly release: () => void,
  ) {}

  /** Events waiting (tests: the bound). */
  get waiting(): number {
    return this.queue.length;
  }

  push(event: BridgeEvent): void {
    if (this.ended) return;
    if (event.port !== null && this.ports !== null && !this.ports.has(event.port)) return;
    if (this.queue.length >= this.queueMax) {
      this.cut("slow", `more than ${this.queueMax} events waited for this reader`);
      return;
    }
    this.queue.push(event);
    this.wakeUp();
  }

  /** Ends the stream with a `cut` event as its last (what still waits is dropped). */
  cut(reason: "slow" | "shutdown", why: string): void {
    if (this.ended) return;
    const id = this.lastDelivered;
    this.queue = [
      { id, name: "cut", port: null, data: { reason, hint: `${why}; reconnect with Last-Event-ID ${id}` } },
    ];
    this.ended = true;
    this.free();
    this.wakeUp();
  }

  /** The next event, waiting for one; null once the stream has ended and its last event was taken. */
  async next(): Promise<BridgeEvent | null> {
    while (this.queue.length === 0) {
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const event = this.queue.shift()!;
    this.lastDelivered = event.id;
    return event;
  }

  /** The client went away. */
  close(): void {
    this.ended = true;
    this.queue = [];
    this.free();
    this.wakeUp();
  }

  private free(): void {
    this.endedNow();
    if (this.released) return;
    this.released = true;
    this.release();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}
