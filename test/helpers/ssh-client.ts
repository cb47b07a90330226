/**
 * Debian's real OpenSSH client against the SSH door: a key pair made with ssh-keygen, one-shot
 * commands (BatchMode, no tty), and an interactive session under util-linux `script` so ssh has a
 * tty and its `~` escapes (`~B`, `~.`) work.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface SshKey {
  readonly file: string;
  /** The authorized_keys line. */
  readonly line: string;
}

export async function makeSshKey(dir: string, name: string): Promise<SshKey> {
  const file = path.join(dir, name);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
  return { file, line: (await readFile(`${file}.pub`, "utf8")).trim() };
}

export async function sshTempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-ssh-"));
}

export interface SshTarget {
  readonly port: number;
  readonly user: string;
  readonly key: SshKey;
  readonly knownHosts: string;
  /** yes: the host key must already be in knownHosts; accept-new: learn it. */
  readonly strict?: "yes" | "accept-new";
}

export function sshArgs(target: SshTarget): string[] {
  return [
    "-p",
    String(target.port),
    "-o",
    `UserKnownHostsFile=${target.knownHosts}`,
    "-o",
    `StrictHostKeyChecking=${target.strict ?? "accept-new"}`,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "PasswordAuthentication=no",
    "-o",
    "KbdInteractiveAuthentication=no",
    "-o",
    "ConnectTimeout=10",
    "-F",
    "/dev/null",
    "-i",
    target.key.file,
  ];
}

export interface SshResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `ssh ... user@127.0.0.1 COMMAND` without a tty; killed after `timeoutMs`. */
export function sshExec(target: SshTarget, command: string[], timeoutMs = 20_000): Promise<SshResult> {
  return new Promise((resolve) => {
    const child = spawn(
      "ssh",
      [...sshArgs(target), "-o", "BatchMode=yes", "-T", `${target.user}@127.0.0.1`, ...command],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("latin1")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("latin1")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** An interactive `ssh user@host` under `script` (a pty): what it prints, what it is typed. */
export class SshSession {
  private text = "";
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(target: SshTarget) {
    const command = ["ssh", ...sshArgs(target), "-tt", `${target.user}@127.0.0.1`]
      .map((word) => `'${word.replace(/'/g, "'\\''")}'`)
      .join(" ");
    this.child = spawn("script", ["-qfec", command, "/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
    const append = (chunk: Buffer): void => {
      this.text += chunk.toString("latin1");
    };
    this.child.stdout?.on("data", append);
    this.child.stderr?.on("data", append);
    this.exited = new Promise((resolve) => this.child.on("close", resolve));
  }

  get output(): string {
    return this.text;
  }

  type(text: string): void {
    this.child.stdin?.write(text);
  }

  async waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const match = pattern.exec(this.text.slice(from));
      if (match) return match[0];
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(
      `ssh session: ${String(pattern)} not seen in ${timeoutMs} ms; got ${JSON.stringify(this.text.slice(-2000))}`,
    );
  }

  /** `~.` ends the session as a person would; killed if it has not within 5 s. */
  async stop(): Promise<number | null> {
    this.type("\r~.");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

/** `ssh -T user@host` with no command: the console's bytes on stdout, the daemon's notices on stderr. */
export class SshViewer {
  readonly stdout: Buffer[] = [];
  private errText = "";
  private readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(target: SshTarget) {
    this.child = spawn("ssh", [...sshArgs(target), "-o", "BatchMode=yes", "-T", `${target.user}@127.0.0.1`], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (chunk: Buffer) => this.stdout.push(chunk));
    this.child.stderr?.on("data", (chunk: Buffer) => (this.errText += chunk.toString("latin1")));
    this.exited = new Promise((resolve) => this.child.on("close", resolve));
  }

  get stderr(): string {
    return this.errText;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.stdout);
  }

  async stop(): Promise<number | null> {
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
