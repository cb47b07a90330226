/**
 * The README's picocom recipe: socat makes a pty linked to a path and connects it to a telnet
 * re-export; picocom opens that path, driven through a pty of its own from util-linux `script`.
 *
 *   test ─pipe─ script ─pty─ picocom ─pty (link)─ socat ─tcp─> daemon's telnet export
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { waitUntil } from "./daemon.js";
import { TerminalProgram } from "./terminal-program.js";

/** picocom's default escape, `C-a` (picocom(1), COMMANDS). */
export const ESCAPE = "\x01";

/** `socat pty,link=<link>,rawer tcp:127.0.0.1:<port>`, as the README has it; ready once the link exists. */
export async function startSocatPty(link: string, port: number): Promise<ChildProcess> {
  const child = spawn("socat", [`pty,link=${link},rawer`, `tcp:127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  await waitUntil(() => existsSync(link) || child.exitCode !== null, 5000, `socat's pty at ${link}`);
  if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode}: ${stderr}`);
  return child;
}

/** Resolves once `child` has exited; SIGKILL after `graceMs` if a polite end did not work. */
export async function exited(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const done = await Promise.race([
    gone.then(() => true),
    new Promise<false>((resolve) => setTimeout(() => resolve(false), graceMs)),
  ]);
  if (!done) {
    child.kill("SIGKILL");
    await gone;
  }
}

/** `picocom <path>` on a pty (it puts its terminal in raw mode and reads the escape keys from it). */
export class Picocom extends TerminalProgram {
  constructor(device: string) {
    super(`picocom ${device}`, "picocom");
  }

  /** `C-a C-x` (exit); SIGTERM if it does not (picocom removes its lock file), then SIGKILL. */
  exit(): Promise<void> {
    return this.leave(`${ESCAPE}\x18`, "SIGTERM");
  }
}
