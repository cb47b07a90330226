/**
 * An interactive program that wants a terminal (picocom, conserver's `console`), run under util-linux
 * `script`, which gives it a pty, and driven through pipes: what it shows, one char per byte, and
 * what the test types.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { waitUntil } from "./daemon.js";

export class TerminalProgram {
  private output = "";
  readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(
    command: string,
    private readonly name: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.child = spawn("script", ["-qfec", command, "/dev/null"], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout?.on("data", (chunk: Buffer) => (this.output += chunk.toString("latin1")));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString("latin1")));
    this.exited = new Promise((resolve) => this.child.once("exit", () => resolve()));
  }

  /** What the program's terminal showed so far. */
  get text(): string {
    return this.output;
  }

  type(text: string): void {
    this.child.stdin?.write(text);
  }

  async waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<void> {
    await waitUntil(
      () => pattern.test(this.output.slice(from)),
      timeoutMs,
      `${this.name} to show ${pattern}`,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; it showed ${JSON.stringify(this.output.slice(from))}`, {
        cause: err,
      });
    });
  }

  /**
   * Types the keys that make the program leave and waits for it to end; after 3 s sends `signal`
   * (script passes it on), and SIGKILL 3 s after that.
   */
  async leave(keys: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.type(keys);
    for (const next of signal === "SIGKILL" ? ["SIGKILL" as const] : [signal, "SIGKILL" as const]) {
      if (await this.endsWithin(3000)) return;
      this.child.kill(next);
    }
    await this.exited;
  }

  private endsWithin(ms: number): Promise<boolean> {
    return Promise.race([
      this.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), ms)),
    ]);
  }
}
