/**
 * The SSH console's window size reaches an exec port's pty: Debian's real OpenSSH client runs on a
 * node-pty terminal the test resizes, and the port's program prints its size on each SIGWINCH. Only
 * the writer's window counts (a read key's must not reflow the program), and sizes are bounded.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { makeSshKey, sshArgs, sshTempDir, type SshKey, type SshTarget } from "../helpers/ssh-client.js";
import { freeTcpPort } from "../kit/index.js";
import { requireTools } from "../helpers/tools.js";

interface Term {
  onData(listener: (data: string) => void): unknown;
  onExit(listener: () => void): unknown;
  resize(cols: number, rows: number): void;
  write(data: string): void;
  kill(signal?: string): void;
}
interface PtyModule {
  spawn(file: string, args: string[], options: { cols: number; rows: number; env: NodeJS.ProcessEnv }): Term;
}

function loadPty(): PtyModule | null {
  try {
    return createRequire(import.meta.url)("node-pty") as PtyModule;
  } catch {
    return null;
  }
}
const pty = loadPty();
const skip = requireTools("ssh", "ssh-keygen", "stty") || (pty ? false : "node-pty cannot be loaded");

/** `ssh -tt user@host` on a pty of `cols` x `rows` the test can resize, as a terminal window. */
class SshWindow {
  text = "";
  private readonly term: Term;
  private readonly exited: Promise<void>;
  constructor(target: SshTarget, cols: number, rows: number) {
    this.term = pty!.spawn("ssh", [...sshArgs(target), "-tt", `${target.user}@127.0.0.1`], {
      cols,
      rows,
      env: { ...process.env, TERM: "xterm" },
    });
    this.term.onData((data) => (this.text += data));
    this.exited = new Promise((resolve) => this.term.onExit(resolve));
  }
  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
  }
  async waitFor(pattern: RegExp, timeoutMs: number, what: string): Promise<void> {
    await waitUntil(() => pattern.test(this.text), timeoutMs, what).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; saw ${JSON.stringify(this.text.slice(-1500))}`);
    });
  }
  async stop(): Promise<void> {
    this.term.write("\r~.");
    const timer = setTimeout(() => this.term.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}

describe("the SSH console's window size and an exec port's pty", { skip, timeout: 60_000 }, () => {
  let daemon: Daemon;
  let operator: SshKey;
  let reader: SshKey;
  let knownHosts: string;
  let stopFile: string;
  const as = (key: SshKey): SshTarget => ({ port: daemon.ssh?.port ?? 0, user: "vm0", key, knownHosts });

  before(async () => {
    const dir = await sshTempDir();
    knownHosts = `${dir}/known_hosts`;
    stopFile = `${dir}/stop`;
    [operator, reader] = await Promise.all([makeSshKey(dir, "operator"), makeSshKey(dir, "reader")]);
    daemon = await startTestDaemon({
      ports: [
        {
          id: "vm0",
          transport: {
            kind: "exec",
            pty: true,
            // One line per size the program's terminal takes (stty reads its own pty); it exits
            // (and the port restarts it) when the test creates $STOP.
            argv: [
              "sh",
              "-c",
              "trap 'echo SIZE $(stty size)' WINCH; echo START; echo SIZE $(stty size); " +
                'while :; do sleep 0.05; if [ -e "$STOP" ]; then rm -f "$STOP"; exit 0; fi; done',
            ],
            env: { STOP: stopFile },
          },
        },
      ],
      config: {
        ssh: { port: await freeTcpPort() },
        auth: {
          tokens: [
            { name: "ops", role: "operate", sshKeys: [operator.line] },
            { name: "viewer", role: "read", sshKeys: [reader.line] },
          ],
        },
      },
    });
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 5000, "exec port open");
  });
  after(async () => {
    await daemon?.close();
  });

  it("follows the writer's window, bounded; a read key's window does not resize the program", async () => {
    const writer = new SshWindow(as(operator), 100, 30);
    try {
      await writer.waitFor(/you hold the writer lease/, 10_000, "the writer's greeting");
      await writer.waitFor(/SIZE 30 100\r?\n/, 5000, "the pty-req's size on the program's pty");
      writer.resize(132, 43);
      await writer.waitFor(/SIZE 43 132\r?\n/, 5000, "the window-change's size");

      const viewer = new SshWindow(as(reader), 50, 10);
      try {
        await viewer.waitFor(/read only/, 10_000, "the viewer's greeting");
        viewer.resize(60, 12);
        // A resize that did reach the program would print within 0.05 s; then the writer's next one does.
        await new Promise((resolve) => setTimeout(resolve, 700));
        writer.resize(2000, 5000);
        await writer.waitFor(/SIZE 1000 1000\r?\n/, 5000, "the bounded size");
        assert.doesNotMatch(
          writer.text,
          /SIZE (10 50|12 60)/,
          "the viewer's window never reached the program",
        );
        assert.doesNotMatch(viewer.text, /SIZE (10 50|12 60)/, "nor did the viewer see it");
      } finally {
        await viewer.stop();
      }
      // The program restarts on a new pty (80x24): the writer's size is applied to it again.
      const from = writer.text.length;
      await writeFile(stopFile, "");
      await waitUntil(() => /START/.test(writer.text.slice(from)), 15_000, "the program's restart");
      await waitUntil(
        () => /SIZE 1000 1000\r?\n(?![\s\S]*SIZE)/.test(writer.text.slice(from)),
        5000,
        `the writer's size on the new pty: ${JSON.stringify(writer.text.slice(from))}`,
      );
    } finally {
      await writer.stop();
    }
  });
});
