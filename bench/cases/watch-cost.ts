/**
 * Case 3c: what the crash watcher (src/recovery/watch.ts) costs the capture. The goal: the
 * capture rate with every detector on stays >= 0.95x the rate with the watcher off. In-process, so the
 * figure is the capture path's own and not the loopback socket's (case 3b's raw reader swings 130 to
 * 1000 MB/s): `Capture.append` of the same bytes, in 64 KiB reads, to a capture on disk, until its
 * files are closed; one capture with a PortWatch on it, one without, alternated run by run. The goal
 * is judged on MB per CPU-second of the process (the watcher's whole cost, whichever thread pays it);
 * MB per CPU-second of the main thread (the capture's own thread) and per wall-clock second are printed
 * too, with each figure's spread over the alternated runs.
 *
 * Two streams: case 3b's pattern (binary 256-byte lines, nothing a detector looks for), and the real
 * guest's boot log repeated back to back (every repeat is a boot banner after output of the same boot,
 * so a `reboot` incident stays open and its report collects lines: the watcher's busiest state).
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { Capture } from "../../src/capture/capture.js";
import { DEFAULT_WATCH_QUIET_MS } from "../../src/config/types.js";
import type { Port } from "../../src/ports/port.js";
import { IncidentStore } from "../../src/recovery/incidents.js";
import { PortWatch } from "../../src/recovery/watch.js";
import { figures, load, type BenchContext } from "../stats.js";
import { streamPattern } from "../peers/pattern.js";

const CHUNK = 64 * 1024;
/** Reads between two turns of the event loop (the writer writes in between, as it does under a socket). */
const READS_PER_TURN = 16;
const GOAL = 0.95;
const silent = pino({ level: "silent" });

function repeated(unit: Buffer, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += unit.length) unit.copy(out, at);
  return out;
}

interface Rate {
  /** MB per second of wall time. */
  readonly wall: number;
  /** MB per second of the process's CPU time (all its threads): steadier on a shared machine. */
  readonly cpu: number;
  /**
   * MB per second of the main thread's CPU time (the capture's and the watcher's thread; not the
   * file writes in libuv's pool, nor V8's helpers). NaN where Linux's schedstat is not there.
   */
  readonly thread: number;
}

/** The main thread's CPU time in ms, from /proc (ns resolution; process.cpuUsage() counts all threads). */
function threadCpuMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, "latin1").split(" ")[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** The rate of capturing `data` (every byte on disk, files closed), with or without a watcher. */
async function captureRate(data: Buffer, watched: boolean): Promise<Rate> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-watch-cost-"));
  try {
    const capture = await Capture.open(dir, "w", {
      retainLines: 10_000,
      rotation: { rotateBytes: 2 ** 32, maxTotalBytes: 2 ** 34 },
      log: silent,
    });
    // PortWatch reads only the port's id, config.watch and capture.
    const port = {
      id: "w",
      config: { watch: { kinds: null, silenceMs: 0, quietMs: DEFAULT_WATCH_QUIET_MS, patterns: [] } },
      capture,
    } as unknown as Port;
    const watch = watched ? await PortWatch.start(port, IncidentStore.inMemory(silent), silent) : null;
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    const threadStart = threadCpuMs();
    for (let at = 0, reads = 0; at < data.length; at += CHUNK, reads += 1) {
      if (reads % READS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      capture.append(data.subarray(at, at + CHUNK), performance.now());
    }
    await capture.close();
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpuStart);
    const threadMs = threadCpuMs() - threadStart;
    watch?.stop();
    const mb = data.length / 1048576;
    return {
      wall: mb / (ms / 1000),
      cpu: mb / ((cpu.user + cpu.system) / 1e6),
      thread: mb / (threadMs / 1000),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function watchCostCase(ctx: BenchContext): Promise<void> {
  const mb = ctx.smoke ? 4 : 64;
  const runs = ctx.smoke ? 1 : ctx.runsGiven ? Math.max(1, Math.min(ctx.runs, 10)) : 5;
  const boot = readFileSync(new URL("../../test/fixtures/crash/boot.bin", import.meta.url));
  const streams = [
    { name: `watch on vs off, ${mb} MB pattern, CPU`, data: streamPattern(mb * 1048576) },
    { name: `watch on vs off, ${mb} MB boots, CPU`, data: repeated(boot, mb * 1048576) },
  ];
  const loadAtStart = load();
  for (const stream of streams) {
    await captureRate(stream.data, false); // warm-up: the first run also compiles the capture path
    await captureRate(stream.data, true);
    const off: Rate[] = [];
    const on: Rate[] = [];
    for (let run = 0; run < runs; run += 1) {
      // Alternated, and each side goes first half of the time, so load lands on both.
      if (run % 2 === 0) off.push(await captureRate(stream.data, false));
      on.push(await captureRate(stream.data, true));
      if (run % 2 === 1) off.push(await captureRate(stream.data, false));
    }
    const cpu = (rates: Rate[]): number[] => rates.map((r) => r.cpu);
    const wall = (rates: Rate[]): number[] => rates.map((r) => r.wall);
    const thread = (rates: Rate[]): number[] => rates.map((r) => r.thread);
    // The goal is judged on CPU time: wall time on a shared 2-core VM swings 2x from run to run.
    const ratio = figures(cpu(on)).median / figures(cpu(off)).median;
    const ratios = on.map((rate, i) => rate.cpu / (off[i]?.cpu ?? NaN));
    const wallRatio = figures(wall(on)).median / figures(wall(off)).median;
    const threadRatio = figures(thread(on)).median / figures(thread(off)).median;
    const threadRatios = on.map((rate, i) => rate.thread / (off[i]?.thread ?? NaN));
    ctx.rows.push({
      case: "3c",
      name: stream.name,
      unit: "MB/s",
      bottleneck: "daemon",
      figures: figures(cpu(on)),
      baseline: { name: "the same capture, watch: false", figures: figures(cpu(off)) },
      extra: {
        unit: "MB per CPU-second of the process",
        wallMBs: { on: figures(wall(on)), off: figures(wall(off)), ratio: wallRatio },
        mainThreadMBs: {
          on: figures(thread(on)),
          off: figures(thread(off)),
          ratio: threadRatio,
          ratios: threadRatios,
        },
        on,
        off,
        ratios,
        goal: `>= ${GOAL}x the rate with the watcher off`,
        met: ratio >= GOAL,
        load: [loadAtStart, load()],
      },
    });
    const spread = (xs: number[]): string => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;
    console.log(
      `      ${stream.name}: on/off ${ratio.toFixed(2)}x per CPU second (runs ${ratios.map((r) => r.toFixed(2)).join(", ")}; ` +
        `spread ${spread(ratios)}), main thread ${threadRatio.toFixed(2)}x (spread ${spread(threadRatios)}), ` +
        `wall ${wallRatio.toFixed(2)}x, goal >= ${GOAL}x  ${ratio >= GOAL ? "ok" : "MISSED"}`,
    );
  }
}
