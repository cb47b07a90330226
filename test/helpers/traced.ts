/**
 * A program run under `strace -f -tt -e trace=ioctl` (BREAK ioctls seen at the device side), as the
 * tests and the bench use ser2net. The tracer filters with seccomp so only ioctls stop the program,
 * and both run at a raised priority (where allowed): a hold measured at the device is then the
 * daemon's, not the delay of a starved ser2net reading SET-CONTROL on a loaded machine.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

export interface Traced {
  readonly child: ChildProcess;
  /** Kills the program, lets strace reap it and exit (SIGKILL to strace alone leaves it running). */
  stop(): Promise<void>;
}

export function spawnTraced(tracePath: string, command: string, args: readonly string[]): Traced {
  // GNU nice runs the command at its own priority when it may not raise it (not root).
  const child = spawn(
    "nice",
    [
      "-n",
      "-10",
      "strace",
      "-f",
      "--seccomp-bpf",
      "-tt",
      "-e",
      "trace=ioctl",
      "-o",
      tracePath,
      command,
      ...args,
    ],
    { stdio: "ignore" },
  );
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    child,
    stop: async () => {
      const pid = child.pid;
      if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
      let tracees: string[] = [];
      try {
        tracees = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean);
      } catch {
        // strace has exited already
      }
      for (const tracee of tracees) process.kill(Number(tracee), "SIGKILL");
      if (tracees.length === 0) child.kill("SIGKILL");
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Seconds since midnight of an `strace -tt` line (0 for a line without a time). */
export function straceSeconds(line: string): number {
  const [h, m, sec] = (/\d\d:\d\d:\d\d\.\d+/.exec(line)?.[0] ?? "0:0:0").split(":").map(Number);
  return (h ?? 0) * 3600 + (m ?? 0) * 60 + (sec ?? 0);
}
