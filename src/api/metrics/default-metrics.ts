/**
 * prom-client's default metrics (process CPU, memory, handles, GC, ...), except that the event-loop
 * delay histogram runs only while someone scrapes /metrics: its timer (every 100 ms) woke an idle
 * daemon ten times a second, more than all the daemon's own timers together (see docs/performance.md).
 * The histogram starts at a scrape and stops after IDLE_SCRAPES_MS without one; the first scrape after
 * a start reports no delays yet (zeros), as no sample was taken.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { Gauge, type Registry } from "prom-client";
import gc from "prom-client/lib/metrics/gc.js";
import heapSizeAndUsed from "prom-client/lib/metrics/heapSizeAndUsed.js";
import heapSpacesSizeAndUsed from "prom-client/lib/metrics/heapSpacesSizeAndUsed.js";
import osMemoryHeap from "prom-client/lib/metrics/osMemoryHeap.js";
import processCpuTotal from "prom-client/lib/metrics/processCpuTotal.js";
import processHandles from "prom-client/lib/metrics/processHandles.js";
import processMaxFileDescriptors from "prom-client/lib/metrics/processMaxFileDescriptors.js";
import processOpenFileDescriptors from "prom-client/lib/metrics/processOpenFileDescriptors.js";
import processRequests from "prom-client/lib/metrics/processRequests.js";
import processResources from "prom-client/lib/metrics/processResources.js";
import processStartTime from "prom-client/lib/metrics/processStartTime.js";
import version from "prom-client/lib/metrics/version.js";

/** Event-loop delay sampling: a stall of 100 ms or more, the kind worth an alert, is still seen. */
export const EVENT_LOOP_RESOLUTION_MS = 100;
/** Without a scrape for this long (a few of Prometheus' usual intervals) the histogram stops. */
export const IDLE_SCRAPES_MS = 5 * 60_000;

/** The histogram's source; tests pass one that counts its starts. */
export type DelayMonitor = (options: { resolution: number }) => IntervalHistogram;

const EAGER = [
  processCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
  gc,
];

/** What prom-client's collectDefaultMetrics registers, under the same names, with the lazy histogram. */
export function collectDefaults(
  registry: Registry,
  prefix: string,
  monitor: DelayMonitor = monitorEventLoopDelay,
): void {
  for (const register of EAGER) register(registry, { prefix });
  eventLoopLag(registry, prefix, monitor);
}

function eventLoopLag(registry: Registry, prefix: string, monitor: DelayMonitor): void {
  const registers = [registry];
  let histogram: IntervalHistogram | null = null;
  let stopTimer: NodeJS.Timeout | null = null;
  const gauge = (name: string, help: string): Gauge =>
    new Gauge({ name: `${prefix}nodejs_eventloop_lag_${name}_seconds`, help, registers });
  const lagMin = gauge("min", "The minimum recorded event loop delay.");
  const lagMax = gauge("max", "The maximum recorded event loop delay.");
  const lagMean = gauge("mean", "The mean of the recorded event loop delays.");
  const lagStddev = gauge("stddev", "The standard deviation of the recorded event loop delays.");
  const lagP50 = gauge("p50", "The 50th percentile of the recorded event loop delays.");
  const lagP90 = gauge("p90", "The 90th percentile of the recorded event loop delays.");
  const lagP99 = gauge("p99", "The 99th percentile of the recorded event loop delays.");
  const stop = (): void => {
    histogram?.disable();
    histogram = null;
    stopTimer = null;
  };
  new Gauge({
    name: `${prefix}nodejs_eventloop_lag_seconds`,
    help: "Lag of event loop in seconds.",
    registers,
    // This one metric's collect sets all of them, as in prom-client.
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => this.set(Number(process.hrtime.bigint() - start) / 1e9));
      const sampled = histogram !== null && histogram.count > 0 ? histogram : null;
      const s = (ns: number | undefined): number => (sampled === null ? 0 : (ns ?? 0) / 1e9);
      lagMin.set(s(sampled?.min));
      lagMax.set(s(sampled?.max));
      lagMean.set(s(sampled?.mean));
      lagStddev.set(s(sampled?.stddev));
      lagP50.set(s(sampled?.percentile(50)));
      lagP90.set(s(sampled?.percentile(90)));
      lagP99.set(s(sampled?.percentile(99)));
      if (histogram === null) {
        histogram = monitor({ resolution: EVENT_LOOP_RESOLUTION_MS });
        histogram.enable();
      } else histogram.reset();
      if (stopTimer === null) stopTimer = setTimeout(stop, IDLE_SCRAPES_MS).unref();
      else stopTimer.refresh();
    },
  });
}
