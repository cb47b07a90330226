/**
 * The real daemon (dist/main.js) as a child process for the bench: its own event loop, its own CPU and
 * memory figures (from /proc), logging at info as in production, to a file (<dir>/daemon.log): read
 * through a pipe, every log write woke the bench's own process, which runs the HTTP clients being
 * timed.
 */
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { run, type BinProcess } from "../test/helpers/bin.js";
import { freeTcpPort } from "../test/kit/index.js";

export interface DaemonProcess {
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  /** User + system CPU time the process has used, in ms (10 ms resolution). */
  cpuMs(): number;
  /** CPU time its live threads have used, in ms (ns resolution; see threadsCpuMs). */
  threadsCpuMs(): number;
  /** From spawn to the first /healthz that answered 200, in ms (polled every HEALTHZ_POLL_MS). */
  readonly healthzMs: number;
  /** Resident set size in KiB. */
  rssKiB(): number;
  stop(): Promise<void>;
}

const TICK_MS = 10;
/** How often start-up polls /healthz: often enough that "right after /healthz first answers" is. */
const HEALTHZ_POLL_MS = 2;

/** Starts the daemon on a config (any keys but listen and captureDir, which are the bench's). */
export async function startDaemonProcess(config: Record<string, unknown>): Promise<DaemonProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bench-daemon-"));
  const port = await freeTcpPort();
  const file = path.join(dir, "config.yaml");
  const full = { listen: { host: "127.0.0.1", port }, captureDir: path.join(dir, "capture"), ...config };
  await writeFile(file, JSON.stringify(full)); // JSON is YAML
  // BENCH_DAEMON_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles every daemon the bench starts.
  const nodeArgs = process.env["BENCH_DAEMON_NODE_ARGS"]?.split(" ").filter(Boolean) ?? [];
  const log = openSync(path.join(dir, "daemon.log"), "a");
  const spawnedAt = performance.now();
  const proc: BinProcess = run(["--config", file], nodeArgs, { stdoutFd: log });
  closeSync(log); // the daemon has its own copy
  await listening(proc, port, 20_000, HEALTHZ_POLL_MS);
  const healthzMs = performance.now() - spawnedAt;
  const pid = proc.child.pid ?? 0;
  return {
    url: `http://127.0.0.1:${port}`,
    pid,
    dir,
    cpuMs: () => processCpuMs(pid),
    threadsCpuMs: () => threadsCpuMs(pid),
    healthzMs,
    rssKiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN),
    stop: async () => {
      if (proc.child.exitCode !== null) return;
      proc.child.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** User + system CPU time process `pid` has used, in ms (10 ms resolution), from /proc. */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
}

/**
 * CPU time of the process's live threads (main, libuv pool, V8 compiler and GC threads), in ms, from
 * /proc/<pid>/task/<tid>/schedstat (ns): /proc's utime + stime tick at 10 ms, too coarse for
 * per-request figures of a millisecond. A thread that ended takes its time with it; Node's threads
 * live as long as the process.
 */
export function threadsCpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return ns / 1e6;
}

/**
 * Polls /healthz every `pollMs` on a fresh connection (node:http, not fetch: undici's own first-use
 * cost would land in the start-up figure) until it answers 200.
 */
async function listening(proc: BinProcess, port: number, timeoutMs: number, pollMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/healthz", agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("error", () => resolve(false));
    });
    if (ok) return;
    if (proc.child.exitCode !== null) {
      throw new Error(`daemon exited with status ${proc.child.exitCode}: ${proc.output().stderr}`);
    }
    if (Date.now() > end) throw new Error(`daemon not listening on ${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** GET a JSON path of the daemon (ports listing, capture reads). */
export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}
