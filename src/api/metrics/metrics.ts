/**
 * Prometheus metrics with prom-client, one registry per app (no global state): port state,
 * reconnects, captured bytes and queue depth are read from the ports on each scrape; requests,
 * verdicts and SysRq latency are counted as they happen.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { NmiResult } from "../../nmi/run.js";
import type { PortRegistry } from "../../ports/registry.js";
import type { IncidentStore } from "../../recovery/incidents.js";
import type { Recoveries } from "../../recovery/recoveries.js";
import type { KeyResult } from "../../sysrq/result.js";

const PORT_STATES = ["open", "connecting", "closed", "locked"] as const;
/** The kernel answers in 2-4 ms on a fast console: buckets start at half a millisecond. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.5, 1, 2, 5,
];
/** An observed ladder ends after its probe (~2 s); one that power-cycles waits for a boot (minutes). */
export const RECOVERY_BUCKETS_SECONDS = [1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export class BridgeMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"method" | "route" | "status">;
  private readonly sysrqVerdicts: Counter<"port" | "verdict">;
  private readonly nmiVerdicts: Counter<"port" | "verdict">;
  private readonly sysrqLatency: Histogram<"port">;

  constructor(ports: PortRegistry, incidents?: IncidentStore, recoveries?: Recoveries) {
    const registers = [this.registry];
    // Event-loop lag sampled every 100 ms, not prom-client's 10: its timer woke an idle daemon 100
    // times a second (~6 ms of CPU a second on the bench's VM, ~1 ms per request at a request a tenth
    // of a second); a stall of 100 ms or more, the kind worth an alert, is still seen.
    collectDefaultMetrics({
      register: this.registry,
      prefix: "sysrq_bridge_",
      eventLoopMonitoringPrecision: 100,
    });
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
      help: "1 per port, labelled with its transport kind (tty, telnet, rfc2217, exec): join on port for metrics per door",
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
