/** Clients of the daemon's telnet / RFC 2217 re-export: a raw socket, busybox telnet and pyserial. */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { waitUntil } from "./daemon.js";

const PYSERIAL_SCRIPT = fileURLToPath(new URL("./pyserial_rfc2217.py", import.meta.url));

/** A bare TCP client that records every byte the server sends (negotiations included). */
export class RawClient {
  private readonly chunks: Buffer[] = [];
  private constructor(readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.chunks.push(chunk));
    socket.on("error", () => undefined);
  }

  /** A TCP port on 127.0.0.1, or a unix socket path. */
  static async connect(at: number | string): Promise<RawClient> {
    const socket = typeof at === "number" ? connect(at, "127.0.0.1") : connect(at);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new RawClient(socket);
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.bytes.toString("latin1");
  }

  async waitFor(pattern: RegExp, timeoutMs: number, from = 0): Promise<void> {
    await waitUntil(
      () => pattern.test(this.bytes.subarray(from).toString("latin1")),
      timeoutMs,
      `${pattern}`,
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.destroy();
    });
  }
}

/** busybox telnet with its stdin and stdout as pipes. */
export class BusyboxTelnet {
  private output = "";
  readonly child: ChildProcessWithoutNullStreams;

  constructor(port: number) {
    this.child = spawn("busybox", ["telnet", "127.0.0.1", String(port)]);
    this.child.stdout.on("data", (chunk: Buffer) => (this.output += chunk.toString("latin1")));
  }

  get text(): string {
    return this.output;
  }

  type(text: string): void {
    this.child.stdin.write(text);
  }

  async waitFor(pattern: RegExp, timeoutMs: number): Promise<void> {
    await waitUntil(() => pattern.test(this.output), timeoutMs, `busybox telnet to show ${pattern}`);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once("exit", () => resolve());
      this.child.kill("SIGTERM");
    });
  }
}

export interface PyserialResult {
  readonly openSeconds: number;
  readonly steps: {
    step: string;
    ok: boolean;
    error?: string;
    seconds: number;
    lines?: { cts: boolean; dsr: boolean; ri: boolean; cd: boolean };
    data?: string;
  }[];
}

/** Runs Debian's pyserial (/usr/bin/python3) against `url` through the given steps. */
export function runPyserial(url: string, steps: string[]): Promise<PyserialResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("/usr/bin/python3", [PYSERIAL_SCRIPT, url, ...steps]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`pyserial exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as PyserialResult);
    });
  });
}

/** A skip reason when Debian's python3-serial is missing (a failure under CI), like requireTools. */
export function requirePyserial(): string | false {
  if (spawnSync("/usr/bin/python3", ["-c", "import serial"], { stdio: "ignore" }).status === 0) return false;
  const message = "missing python3-serial (pyserial): run scripts/ensure-system-packages.sh as root";
  if (process.env["CI"]) throw new Error(`${message} (CI must not skip this suite)`);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  return `SKIPPED: ${message}`;
}
