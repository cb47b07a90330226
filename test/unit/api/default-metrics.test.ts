import assert from "node:assert/strict";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { test } from "node:test";
import { Registry, collectDefaultMetrics } from "prom-client";
import { collectDefaults, type DelayMonitor } from "../../../src/api/metrics/default-metrics.js";

/** A real histogram whose starts and resets are counted. */
function countingMonitor(): {
  monitor: DelayMonitor;
  starts: number;
  resets: number;
  histograms: IntervalHistogram[];
} {
  const state = { starts: 0, resets: 0, histograms: [] as IntervalHistogram[] };
  const monitor: DelayMonitor = (options) => {
    state.starts += 1;
    const histogram = monitorEventLoopDelay(options);
    const reset = histogram.reset.bind(histogram);
    histogram.reset = () => {
      state.resets += 1;
      reset();
    };
    state.histograms.push(histogram);
    return histogram;
  };
  return Object.assign(state, { monitor });
}

const names = async (registry: Registry): Promise<string[]> =>
  (await registry.getMetricsAsJSON()).map((metric) => metric.name).sort();

test("the default metrics are prom-client's, under the same names", async () => {
  const ours = new Registry();
  const counting = countingMonitor();
  collectDefaults(ours, "x_", counting.monitor);
  const theirs = new Registry();
  collectDefaultMetrics({ register: theirs, prefix: "x_" });
  assert.deepEqual(await names(ours), await names(theirs), "the same metric names as collectDefaultMetrics");
  for (const histogram of counting.histograms) histogram.disable();
});

test("the event-loop delay histogram starts at the first scrape, not before", async () => {
  const registry = new Registry();
  const counting = countingMonitor();
  collectDefaults(registry, "x_", counting.monitor);
  assert.equal(counting.starts, 0, "no histogram (and no timer waking the daemon) before a scrape");
  const first = await registry.metrics();
  assert.equal(counting.starts, 1, "the first scrape starts the histogram");
  assert.match(first, /^x_nodejs_eventloop_lag_p99_seconds 0$/m, "no samples yet: zero");
  await new Promise((resolve) => setTimeout(resolve, 250));
  const second = await registry.metrics();
  assert.equal(counting.starts, 1, "later scrapes keep the same histogram");
  assert.equal(counting.resets, 1, "each later scrape reads and resets it");
  assert.match(second, /^x_nodejs_eventloop_lag_max_seconds \d/m, "the delays are reported");
  for (const histogram of counting.histograms) histogram.disable();
});
