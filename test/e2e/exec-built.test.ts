/**
 * Exec ports in the built daemon (dist/main.js): node-pty loads from node_modules outside the bundle
 * (which runs as a vm.Script, where a dynamic import() fails), and SIGTERM stops every program's
 * process group, grandchildren included.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { freeTcpPort } from "../kit/index.js";
import { listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";

interface LogBody {
  lines: { text: string }[];
}

/** Running, not a zombie (an orphan's exit is reaped by whoever adopted it, maybe late). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("exec ports in the built daemon", { timeout: 60_000 }, () => {
  let daemon: BinProcess | undefined;
  let base = "";

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-exec-built-"));
    const port = await freeTcpPort();
    base = `http://127.0.0.1:${port}`;
    const config = [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      `captureDir: ${dir}/capture`,
      "ports:",
      "  - id: tty",
      "    transport: { kind: exec, pty: true, argv: [sh, -c, '[ -t 0 ] && [ -t 1 ] && echo IS-A-TTY; exec cat'] }",
      "  - id: group",
      "    transport: { kind: exec, argv: [sh, -c, 'sleep 300 & echo GRANDCHILD=$!; wait'] }",
    ].join("\n");
    await writeFile(path.join(dir, "config.yaml"), `${config}\n`);
    daemon = run(["--config", path.join(dir, "config.yaml")]);
    await listening(daemon, port);
  });
  after(async () => {
    if (daemon && daemon.child.exitCode === null) {
      daemon.child.kill("SIGKILL");
      await daemon.exited;
    }
  });

  const log = async (id: string): Promise<string> => {
    const res = await fetch(`${base}/ports/${id}/log?since=0`);
    return ((await res.json()) as LogBody).lines.map((l) => l.text).join("\n");
  };

  it("runs a pty program through node-pty outside the bundle", async () => {
    await waitUntil(async () => (await log("tty")).includes("IS-A-TTY"), 10_000, "the program saw a tty");
  });

  it("stops each program's process group at SIGTERM", async () => {
    await waitUntil(async () => /GRANDCHILD=\d+/.test(await log("group")), 10_000, "the grandchild's pid");
    const grandchild = Number(/GRANDCHILD=(\d+)/.exec(await log("group"))?.[1]);
    assert.ok(alive(grandchild), "the grandchild runs");
    daemon!.child.kill("SIGTERM");
    assert.equal(await daemon!.exited, 0, `the daemon exits 0: ${daemon!.output().stderr}`);
    await sleep(100);
    const state = (() => {
      try {
        return readFileSync(`/proc/${grandchild}/stat`, "utf8");
      } catch {
        return "gone";
      }
    })();
    assert.equal(alive(grandchild), false, `the program's own child was stopped with it: ${state}`);
  });
});
