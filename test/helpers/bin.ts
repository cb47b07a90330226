/** The real `sysrq-bridge` binary (dist/main.js, so `npm run build` first), run as a child process. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const bin = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

export interface BinProcess {
  readonly child: ChildProcess;
  /** The exit status (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** What it printed (stdout stays empty when it went to `stdoutFd`). */
  output(): { stdout: string; stderr: string };
}

export interface RunOptions {
  /** Where the daemon's stdout (its JSON log) goes instead of a pipe read by this process. */
  readonly stdoutFd?: number;
}

/** `nodeArgs` go to node itself, before the script (`--cpu-prof` for a profile of the daemon). */
export function run(args: string[], nodeArgs: readonly string[] = [], options: RunOptions = {}): BinProcess {
  const child = spawn(process.execPath, [...nodeArgs, bin, ...args], {
    stdio: ["ignore", options.stdoutFd ?? "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** Resolves once the daemon answers GET /healthz on `port`; fails at once if it exits instead. */
export async function listening(proc: BinProcess, port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (proc.child.exitCode !== null) {
      throw new Error(`daemon exited with status ${proc.child.exitCode}: ${proc.output().stderr}`);
    }
    if (Date.now() > end) throw new Error(`daemon not listening on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
