/**
 * One console program as a child: argv (no shell, argv[0] on PATH), on pipes or on a pty (node-pty,
 * loaded only here and only when asked), in its own process group so stopping it takes its children
 * too. Its stdout (or the pty) is the console; its stderr goes to the port's log, never the console.
 * Reused by every transport that wraps a program (exec; ipmi-sol wraps ipmitool).
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { accessSync, constants } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stderrLogOf } from "./stderr-log.js";
import { TransportOpenError, type TransportLog } from "./transport.js";
import { killGroup } from "../child-process.js";

/** What to run. `env` is laid over the daemon's environment; `cwd` is absolute. */
export interface ChildSpec {
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly pty?: boolean;
}

/** How the child ended: the exit code, or the signal that ended it. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: string | null;
}

export interface ChildHandlers {
  data(chunk: Buffer): void;
  exit(exit: ChildExit): void;
}

export interface ConsoleChild {
  readonly pid: number;
  /** Resolves once the OS took the bytes (a pipe's write callback; a pty queues them at once). */
  write(data: Uint8Array): Promise<void>;
  /** A pty's window size (the program gets SIGWINCH); absent on pipes, which have no window. */
  resize?(cols: number, rows: number): void;
  /** SIGTERM to the group, SIGKILL after `deadlineMs`; resolves when the child has exited. */
  stop(deadlineMs?: number): Promise<void>;
}

export const CHILD_KILL_DEADLINE_MS = 2000;

/**
 * What this module uses of node-pty, spelled out: it is an optional dependency (a native module that
 * may not be installed), so the build must not need its types.
 */
interface PtyProcess {
  readonly pid: number;
  write(data: Buffer): void;
  resize(cols: number, rows: number): void;
  onData(listener: (data: Buffer | string) => void): unknown;
  onExit(listener: (event: { exitCode: number; signal?: number }) => void): unknown;
}

interface PtyModule {
  spawn(
    file: string,
    args: string[],
    options: {
      name: string;
      cols: number;
      rows: number;
      env: Record<string, string>;
      cwd?: string;
      encoding: null;
    },
  ): PtyProcess;
}

export function describeExit(exit: ChildExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
}

/** argv[0] as execvp finds it, so a missing program is ENOENT at open for pipes and ptys alike. */
export function resolveProgram(program: string, env: NodeJS.ProcessEnv): string {
  const candidates = program.includes("/")
    ? [program]
    : (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(":").map((dir) => path.join(dir || ".", program));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // the next directory of PATH
    }
  }
  throw new TransportOpenError(
    "ENOENT",
    `cannot run ${program}: not found${program.includes("/") ? "" : " on PATH"} or not executable`,
  );
}

/** Starts the child; rejects with a TransportOpenError (ENOENT, EACCES, PTY_UNAVAILABLE ...). */
export async function startConsoleChild(
  spec: ChildSpec,
  handlers: ChildHandlers,
  log: TransportLog | undefined,
): Promise<ConsoleChild> {
  const env = { ...process.env, ...spec.env };
  const [program = "", ...args] = spec.argv;
  const file = resolveProgram(program, env);
  return spec.pty
    ? startOnPty(file, args, spec, env, handlers)
    : startOnPipes(file, args, spec, env, handlers, log);
}

function startOnPipes(
  file: string,
  args: readonly string[],
  spec: ChildSpec,
  env: NodeJS.ProcessEnv,
  handlers: ChildHandlers,
  log: TransportLog | undefined,
): Promise<ConsoleChild> {
  const child = spawn(file, args, {
    argv0: spec.argv[0],
    env,
    ...(spec.cwd ? { cwd: spec.cwd } : {}),
    detached: true, // its own process group: stop() kills the group, grandchildren included
    stdio: ["pipe", "pipe", "pipe"],
  });
  const stderr = log ? stderrLogOf(log, spec.argv[0] ?? "") : null;
  return new Promise((resolve, reject) => {
    child.once("error", (err: NodeJS.ErrnoException) => {
      reject(
        new TransportOpenError(err.code ?? "EIO", `cannot run ${spec.argv[0] ?? ""}: ${err.message}`, {
          cause: err,
        }),
      );
    });
    child.once("spawn", () => {
      const pid = child.pid ?? 0;
      const exited = new Promise<void>((done) => {
        child.once("exit", (code, signal) => {
          killGroup(pid, "SIGKILL"); // what the program left behind in its group
          stderr?.end();
          handlers.exit({ code, signal });
          done();
        });
      });
      child.stdout.on("data", (chunk: Buffer) => handlers.data(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr?.push(chunk));
      // EPIPE after the child closed its stdin: the exit event reports the disconnect.
      child.stdin.on("error", () => undefined);
      resolve({
        pid,
        write: (data) =>
          new Promise((done, fail) => {
            child.stdin.write(data, (err) => (err ? fail(err) : done()));
          }),
        stop: (deadlineMs = CHILD_KILL_DEADLINE_MS) => stopGroup(pid, exited, deadlineMs),
      });
    });
  });
}

async function startOnPty(
  file: string,
  args: readonly string[],
  spec: ChildSpec,
  env: NodeJS.ProcessEnv,
  handlers: ChildHandlers,
): Promise<ConsoleChild> {
  let pty: PtyModule;
  try {
    // require, not import(): the daemon's bundle runs as a vm.Script, which has no dynamic import.
    pty = createRequire(import.meta.url)("node-pty") as PtyModule;
  } catch (err) {
    throw new TransportOpenError(
      "PTY_UNAVAILABLE",
      `pty: true needs node-pty, which cannot be loaded here: ${(err as Error).message}`,
      { cause: err },
    );
  }
  let term: PtyProcess;
  try {
    term = pty.spawn(file, [...args], {
      name: env["TERM"] ?? "xterm",
      cols: 80,
      rows: 24,
      env: Object.fromEntries(
        Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
      ...(spec.cwd ? { cwd: spec.cwd } : {}),
      encoding: null, // bytes as the program wrote them
    });
  } catch (err) {
    throw new TransportOpenError(
      "EIO",
      `cannot start ${spec.argv[0] ?? ""} on a pty: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const pid = term.pid; // node-pty's child calls setsid: it leads its own group
  const exited = new Promise<void>((done) => {
    term.onExit(({ exitCode, signal }) => {
      killGroup(pid, "SIGKILL");
      handlers.exit({ code: signal ? null : exitCode, signal: signal ? signalName(signal) : null });
      done();
    });
  });
  term.onData((data) =>
    handlers.data(typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data)),
  );
  return {
    pid,
    write: (data) => {
      term.write(Buffer.from(data));
      return Promise.resolve();
    },
    resize: (cols, rows) => term.resize(cols, rows),
    stop: (deadlineMs = CHILD_KILL_DEADLINE_MS) => stopGroup(pid, exited, deadlineMs),
  };
}

function signalName(signal: number): string {
  const name = Object.entries(os.constants.signals).find(([, value]) => value === signal)?.[0];
  return name ?? `signal ${signal}`;
}

async function stopGroup(pid: number, exited: Promise<void>, deadlineMs: number): Promise<void> {
  killGroup(pid, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), deadlineMs);
  });
  const outcome = await Promise.race([exited.then(() => "exited" as const), late]);
  clearTimeout(timer);
  if (outcome === "late") {
    killGroup(pid, "SIGKILL");
    await exited;
  }
}
