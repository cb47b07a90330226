/**
 * A measurement, not the daemon's code (docs/performance.md, "A worker thread"): what the capture's
 * thread and the whole process pay when the crash classifier runs in a worker thread, against no
 * watcher and the in-thread PortWatch, alternated run by run. The capture's thread copies each read's
 * line ends (capture/line-batch.ts) into shared rings; the worker reads the bytes back from the raw
 * file. No unchecked-span records, no incidents sent back, one port: only the cost is measured.
 *
 *   npx tsx bench/experiments/watch-worker.ts
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { build } from "esbuild";
import { pino } from "pino";
import { Capture } from "../../src/capture/capture.js";
import { DEFAULT_WATCH_QUIET_MS } from "../../src/config/types.js";
import type { Port } from "../../src/ports/port.js";
import { IncidentStore } from "../../src/recovery/incidents.js";
import { PortWatch } from "../../src/recovery/watch.js";
import { streamPattern } from "../peers/pattern.js";
import type { WorkerInput } from "./watch-worker-thread.js";

const MB = 64;
const ROUNDS = 7;
const CHUNK = 64 * 1024;
const HEADS = 8192;
const ENDS = 1 << 20;
const silent = pino({ level: "silent" });

type Mode = "off" | "in-thread" | "worker";
interface Rates {
  readonly thread: number;
  readonly process: number;
  readonly wall: number;
}

const threadMs = (): number =>
  Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "latin1").split(" ")[0]) / 1e6;
const processMs = (): number => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

/** Feeds the capture's batches to a worker through shared rings; a full ring drops (never waits). */
async function startWorker(capture: Capture, script: string): Promise<() => Promise<void>> {
  const input: WorkerInput = {
    control: new SharedArrayBuffer(32),
    heads: new SharedArrayBuffer(HEADS * 48),
    ends: new SharedArrayBuffer(ENDS * 4),
    raw: capture.files.raw,
    first: capture.size,
  };
  const control = new Int32Array(input.control);
  const heads = new Float64Array(input.heads);
  const ends = new Int32Array(input.ends);
  const worker = new Worker(script, { execArgv: [], workerData: input });
  const done = new Promise((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  await new Promise((resolve) => worker.once("online", resolve));
  await new Promise((resolve) => setTimeout(resolve, 300)); // compiled before the clock starts
  let written = 0;
  let at_ends = 0;
  let endsWritten = 0;
  const unobserve = capture.observe({
    lines: (seq, _source, start, batch, count, offset, at) => {
      if (
        written - Atomics.load(control, 1) >= HEADS ||
        endsWritten + count - Atomics.load(control, 4) > ENDS
      )
        throw new Error("the ring is full");
      const h = (written % HEADS) * 6;
      heads.set([seq, offset, start, count, at, at_ends], h);
      if (at_ends + count <= ENDS) ends.set(batch.subarray(0, count), at_ends);
      else for (let i = 0; i < count; i += 1) ends[(at_ends + i) % ENDS] = batch[i] as number;
      at_ends = (at_ends + count) % ENDS;
      endsWritten += count;
      written += 1;
      Atomics.store(control, 0, written);
      if (Atomics.load(control, 2) === 1) Atomics.notify(control, 0);
    },
    action: () => undefined,
    gap: () => undefined,
  });
  return async () => {
    unobserve();
    Atomics.store(control, 3, 1);
    Atomics.notify(control, 0);
    await done; // every batch checked
    await worker.terminate();
  };
}

async function run(data: Buffer, mode: Mode, script: string): Promise<Rates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-watch-worker-"));
  try {
    const capture = await Capture.open(dir, "w", {
      retainLines: 10_000,
      rotation: { rotateBytes: 2 ** 32, maxTotalBytes: 2 ** 34 },
      log: silent,
    });
    const port = {
      id: "w",
      config: { watch: { kinds: null, silenceMs: 0, quietMs: DEFAULT_WATCH_QUIET_MS, patterns: [] } },
      capture,
    } as unknown as Port;
    const watch =
      mode === "in-thread" ? await PortWatch.start(port, IncidentStore.inMemory(silent), silent) : null;
    const stopWorker = mode === "worker" ? await startWorker(capture, script) : null;
    const thread0 = threadMs();
    const process0 = processMs();
    const wall0 = performance.now();
    for (let at = 0, reads = 0; at < data.length; at += CHUNK, reads += 1) {
      if (reads % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
      capture.append(data.subarray(at, at + CHUNK), performance.now());
    }
    await capture.close();
    const thread = threadMs() - thread0;
    const wall = performance.now() - wall0;
    await stopWorker?.();
    const proc = processMs() - process0;
    watch?.stop();
    const mb = data.length / 1048576;
    return { thread: mb / (thread / 1000), process: mb / (proc / 1000), wall: mb / (wall / 1000) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
const shown = (xs: number[]): string =>
  `${median(xs).toFixed(2)}x (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;

const out = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-watch-worker-build-"));
const script = path.join(out, "worker.mjs");
await build({
  entryPoints: [new URL("./watch-worker-thread.ts", import.meta.url).pathname],
  bundle: true,
  platform: "node",
  format: "esm",
  outfile: script,
  logLevel: "warning",
});
const boot = readFileSync(new URL("../../test/fixtures/crash/boot.bin", import.meta.url));
const boots = Buffer.alloc(MB * 1048576);
for (let at = 0; at < boots.length; at += boot.length) boot.copy(boots, at);
const modes: Mode[] = ["off", "in-thread", "worker"];
for (const [name, data] of [
  ["pattern", streamPattern(MB * 1048576)],
  ["boots", boots],
] as const) {
  for (const mode of modes) await run(data, mode, script); // warm-up
  const rates = new Map<Mode, Rates[]>(modes.map((m) => [m, []]));
  for (let round = 0; round < ROUNDS; round += 1)
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse())
      rates.get(mode)?.push(await run(data, mode, script));
  const off = rates.get("off") ?? [];
  for (const mode of ["in-thread", "worker"] as const) {
    const on = rates.get(mode) ?? [];
    const ratio = (k: keyof Rates): number[] => on.map((r, i) => r[k] / (off[i]?.[k] ?? NaN));
    console.log(
      `${MB} MB ${name}, watcher ${mode} / off: main thread ${shown(ratio("thread"))}, ` +
        `process ${shown(ratio("process"))}, wall ${shown(ratio("wall"))}  (load ${os.loadavg()[0]?.toFixed(1)})`,
    );
  }
}
await rm(out, { recursive: true, force: true });
