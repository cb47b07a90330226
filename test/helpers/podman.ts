/**
 * Debian's podman, as root, driven the way this kind of host needs it: runc (crun refuses hybrid v1
 * cgroups), cgroupfs (no systemd to ask), and resource limits no higher than this process's own.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const PODMAN = ["--runtime", "runc", "--cgroup-manager=cgroupfs"];
const BASE_SCRIPT = fileURLToPath(new URL("../kit/build-node-base.sh", import.meta.url));
/** Podman lowers its own RLIMIT_NPROC to this before it starts a container (its build default too). */
const PODMAN_NPROC = 32768;

export interface Ran {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command args`, niced (the suites alongside keep the CPU), killed at the deadline; rejects on
 * a non-zero exit with the tail of what it printed.
 */
export function runNiced(command: string, args: string[], timeoutMs: number): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn("nice", ["-n", "10", command, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout = (stdout + d.toString()).slice(-65_536)));
    child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-65_536)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else
        reject(
          new Error(
            `${command} ${args.join(" ")}: ${signal === "SIGKILL" ? `killed after ${timeoutMs} ms` : `exit ${String(code)}`}\n` +
              `${stdout.slice(-3000)}\n${stderr.slice(-3000)}`,
          ),
        );
    });
  });
}

export function podman(args: string[], timeoutMs = 60_000): Promise<Ran> {
  return runNiced("podman", [...PODMAN, ...args], timeoutMs);
}

/** A hard limit of this process from /proc/self/limits ("Max open files", "Max processes"). */
function hardLimit(name: string): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith(name));
  const hard = line?.slice(name.length).trim().split(/\s+/)[1];
  return hard === undefined || hard === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(hard);
}

/**
 * --ulimit flags a container can be given here. Podman asks for more than its own hard limits by
 * default, which fails (EPERM) where root lacks CAP_SYS_RESOURCE, as on this machine.
 */
export function ulimitFlags(): string[] {
  const nofile = Math.min(hardLimit("Max open files"), 1_048_576);
  const nproc = Math.min(hardLimit("Max processes"), PODMAN_NPROC);
  return ["--ulimit", `nofile=${nofile}:${nofile}`, "--ulimit", `nproc=${nproc}:${nproc}`];
}

/** The stand-in node:20-bookworm-slim (test/kit/build-node-base.sh); minutes when cold. */
export async function ensureNodeBase(timeoutMs: number): Promise<string> {
  const { stdout } = await runNiced("bash", [BASE_SCRIPT], timeoutMs);
  const image = stdout.trim().split("\n").pop();
  if (image === undefined || image === "") throw new Error("build-node-base.sh printed no image name");
  return image;
}

/** Whether process `pid` still exists (a leftover named after a dead run's pid may go). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
