/**
 * The real daemon (dist/main.js) as a child process for the bench: its own event loop, its own CPU and
 * memory figures (from /proc), logging at info as in production, to a file (<dir>/daemon.log): read
 * through a pipe, every log write woke the bench's own process, which runs the HTTP clients being
 * timed.
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { listening, run, type BinProcess } from "../test/helpers/bin.js";
import { freeTcpPort } from "../test/kit/index.js";

export interface DaemonProcess {
  readonly url: string;
  readonly pid: number;
  readonly dir: string;
  /** User + system CPU time the process has used, in ms (10 ms resolution). */
  cpuMs(): number;
  /** Resident set size in KiB. */
  rssKiB(): number;
  stop(): Promise<void>;
}

const TICK_MS = 10;

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
  const proc: BinProcess = run(["--config", file], nodeArgs, { stdoutFd: log });
  closeSync(log); // the daemon has its own copy
  await listening(proc, port, 20_000);
  const pid = proc.child.pid ?? 0;
  return {
    url: `http://127.0.0.1:${port}`,
    pid,
    dir,
    cpuMs: () => processCpuMs(pid),
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

/** GET a JSON path of the daemon (ports listing, capture reads). */
export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  return (await res.json()) as T;
}
