/**
 * Prometheus metrics with prom-client, one registry per app (no global state): port state,
 * reconnects, captured bytes and queue depth are read from the ports on each scrape; requests,
 * verdicts and SysRq latency are counted as they happen.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { NmiResult } from "../../nmi/run.js";
import type { PortRegistry } from "../../ports/registry.js";
import type { IncidentStore } from "../../recovery/incidents.js";
import type { Recoveries } from "../../recovery/recoveries.js";
import type { KeyResult } from "../../sysrq/result.js";
import { collectDefaults, type DelayMonitor } from "./default-metrics.js";
import { WebhookMetrics } from "./webhooks.js";

const PORT_STATES = ["open", "connecting", "closed", "locked"] as const;
/** The kernel answers in 2-4 ms on a fast console: buckets start at half a millisecond. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.5, 1, 2, 5,
];
/** An observed ladder ends after its probe (~2 s); one that power-cycles waits for a boot (minutes). */
export const RECOVERY_BUCKETS_SECONDS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export class BridgeMetrics {
  readonly registry = new Registry();
  readonly webhooks = new WebhookMetrics(this.registry);
  private readonly requests: Counter<"method" | "route" | "status">;
  private readonly sysrqVerdicts: Counter<"port" | "verdict">;
  private readonly nmiVerdicts: Counter<"port" | "verdict">;
  private readonly sysrqLatency: Histogram<"port">;

  constructor(
    ports: PortRegistry,
    incidents?: IncidentStore,
    recoveries?: Recoveries,
    monitor?: DelayMonitor,
  ) {
    const registers = [this.registry];
    // prom-client's defaults; the event-loop delay is sampled only while scraped (default-metrics.ts).
    collectDefaults(this.registry, "sysrq_bridge_", monitor);
    const stats = () => ports.list().map((port) => ({ id: port.id, ...port.stats() }));
    new Gauge({
      name: "sysrq_bridge_port_state",
      help: "1 for the state each port is in",
      labelNames: ["port", "state"],
      registers,
      collect() {
        this.reset();
        for (const port of stats()) {
          for (const state of PORT_STATES) this.set({ port: port.id, state }, port.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "sysrq_bridge_port_info",
      help: "1 per port, labelled with its transport kind (tty, telnet, rfc2217, exec, ipmi-sol): join on port for metrics per door",
      labelNames: ["port", "kind"],
      registers,
      collect() {
        this.reset();
        for (const port of ports.list()) this.set({ port: port.id, kind: port.config.transport.kind }, 1);
      },
    });
    new Gauge({
      name: "sysrq_bridge_queue_depth",
      help: "requests waiting or running on each port",
      labelNames: ["port"],
      registers,
      collect() {
        for (const port of stats()) this.set({ port: port.id }, port.queueDepth);
      },
    });
    new Counter({
      name: "sysrq_bridge_incidents_total",
      help: "incidents the crash watcher (or a periodic probe: kind probe) opened since start-up, by port and kind (an incident counts once per kind it has)",
      labelNames: ["port", "kind"],
      registers,
      collect() {
        this.reset();
        for (const [key, count] of incidents?.counts() ?? []) {
          const [port = "", kind = ""] = key.split("\u0000");
          this.inc({ port, kind }, count);
        }
      },
    });
    new Counter({
      name: "sysrq_bridge_reconnects_total",
      help: "times each port's link was re-established after the first open",
      labelNames: ["port"],
      registers,
      collect() {
        this.reset();
        for (const port of stats()) this.inc({ port: port.id }, port.reconnects);
      },
    });
    new Counter({
      name: "sysrq_bridge_captured_bytes_total",
      help: "bytes the target printed, captured to disk",
      labelNames: ["port"],
      registers,
      collect() {
        this.reset();
        for (const port of stats()) this.inc({ port: port.id }, port.capturedBytes);
      },
    });
    new Counter({
      name: "sysrq_bridge_capture_lost_bytes_total",
      help: "bytes read from the target but not stored (the disk refused them; gaps in the index)",
      labelNames: ["port"],
      registers,
      collect() {
        this.reset();
        for (const port of stats()) this.inc({ port: port.id }, port.captureLostBytes);
      },
    });
    new Gauge({
      name: "sysrq_bridge_capture_degraded",
      help: "1 while the port's capture cannot write to disk",
      labelNames: ["port"],
      registers,
      collect() {
        for (const port of stats()) this.set({ port: port.id }, port.captureDegraded ? 1 : 0);
      },
    });
    new Gauge({
      name: "sysrq_bridge_console_viewers",
      help: "console clients attached to each port: WebSocket viewers and telnet / RFC 2217 connections",
      labelNames: ["port"],
      registers,
      collect() {
        for (const port of ports.list()) this.set({ port: port.id }, port.viewers);
      },
    });
    new Gauge({
      name: "sysrq_bridge_lease_held",
      help: "1 while someone holds the port's writer lease, by how they are connected",
      labelNames: ["port", "via"],
      registers,
      collect() {
        this.reset();
        for (const port of ports.list()) {
          const lease = port.lease.current;
          if (lease) this.set({ port: port.id, via: lease.via }, 1);
        }
      },
    });
    this.requests = new Counter({
      name: "sysrq_bridge_http_requests_total",
      help: "HTTP requests by route and status",
      labelNames: ["method", "route", "status"],
      registers,
    });
    this.sysrqVerdicts = new Counter({
      name: "sysrq_bridge_sysrq_verdicts_total",
      help: "SysRq keys by verdict",
      labelNames: ["port", "verdict"],
      registers,
    });
    this.nmiVerdicts = new Counter({
      name: "sysrq_bridge_nmi_verdicts_total",
      help: "NMIs by verdict",
      labelNames: ["port", "verdict"],
      registers,
    });
    this.sysrqLatency = new Histogram({
      name: "sysrq_bridge_sysrq_latency_seconds",
      help: "from the first byte on the wire to the kernel's sysrq line",
      labelNames: ["port"],
      buckets: LATENCY_BUCKETS_SECONDS,
      registers,
    });
    const recoveriesTotal = new Counter({
      name: "sysrq_bridge_recoveries_total",
      help: "recovery ladders that ended since start-up, by port and outcome (quarantined: refused, none ran)",
      labelNames: ["port", "outcome"],
      registers,
    });
    const recoveryDuration = new Histogram({
      name: "sysrq_bridge_recovery_duration_seconds",
      help: "from a ladder's start to its end, by port and outcome (quarantined ones ran no ladder: not here)",
      labelNames: ["port", "outcome"],
      buckets: RECOVERY_BUCKETS_SECONDS,
      registers,
    });
    recoveries?.onEnd(({ port, outcome, seconds }) => {
      recoveriesTotal.inc({ port, outcome });
      if (seconds !== undefined) recoveryDuration.observe({ port, outcome }, seconds);
    });
  }

  /** The SSH door's counts (export/ssh-door.ts), read on each scrape; registered once it listens. */
  addSshDoor(
    stats: () => {
      readonly sessions: Readonly<Record<string, number>>;
      readonly bytes: { readonly in: number; readonly out: number };
    },
  ): void {
    const registers = [this.registry];
    new Counter({
      name: "sysrq_bridge_ssh_sessions_total",
      help: "SSH door connections and channels by result: console, exec, auth-failed (refused keys), grace-expired (no login in 10 s)",
      labelNames: ["result"],
      registers,
      collect() {
        this.reset();
        for (const [result, count] of Object.entries(stats().sessions)) this.inc({ result }, count);
      },
    });
    new Counter({
      name: "sysrq_bridge_ssh_console_bytes_total",
      help: "console bytes through SSH sessions: in (typed by clients), out (the target's output sent to them)",
      labelNames: ["direction"],
      registers,
      collect() {
        this.reset();
        const { bytes } = stats();
        this.inc({ direction: "in" }, bytes.in);
        this.inc({ direction: "out" }, bytes.out);
      },
    });
  }

  /** GET /events' streams: open now, and refused at a cap since start-up (by which cap). */
  eventStreams(hub: {
    readonly open: number;
    readonly refused: Readonly<Record<"daemon" | "token", number>>;
  }): void {
    new Gauge({
      name: "sysrq_bridge_event_streams",
      help: "GET /events streams open now",
      registers: [this.registry],
      collect() {
        this.set(hub.open);
      },
    });
    new Counter({
      name: "sysrq_bridge_event_streams_refused_total",
      help: "GET /events streams refused with 429 TOO_MANY_STREAMS since start-up, by the cap reached (daemon or token)",
      labelNames: ["limit"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const limit of ["daemon", "token"] as const) this.inc({ limit }, hub.refused[limit]);
      },
    });
  }

  request(method: string, route: string, status: number): void {
    this.requests.inc({ method, route, status: String(status) });
  }

  sysrqResult(port: string, result: KeyResult): void {
    this.sysrqVerdicts.inc({ port, verdict: result.verdict });
    if (typeof result.latencyMs === "number") this.sysrqLatency.observe({ port }, result.latencyMs / 1000);
  }

  nmiResult(port: string, result: NmiResult): void {
    this.nmiVerdicts.inc({ port, verdict: result.verdict });
  }
}
