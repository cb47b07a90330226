/**
 * Another program on the same tty: a live pid in the UUCP lock file (as picocom or minicom leave it)
 * makes the port `locked` with the holder named, requests get 503, and the daemon attaches by itself
 * once the holder is gone; while it holds the device its own lock file says so, and it goes with it.
 *
 * A pty cannot carry a BREAK (tty-pty.test.ts), so what reaches the far end once attached is a write.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, realpath, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { PortInfo } from "../../src/ports/port-info.js";
import { lockFileName } from "../../src/transports/uucp-lock.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat");

interface ErrorBody {
  code: string;
  message: string;
  lockedBy?: { pid: number };
}

describe("UUCP lock files on a real pty", { skip }, () => {
  let dir: string;
  let pair: PtyPair;
  let lockFile: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-lock-e2e-"));
    pair = await startPtyPair(path.join(dir, "ttyA"), path.join(dir, "ttyB"));
    const device = await realpath(pair.daemonSide);
    assert.match(device, /^\/dev\/pts\/\d+$/);
    lockFile = path.join(dir, lockFileName(device));
    assert.match(path.basename(lockFile), /^LCK\.\.pts_\d+$/);
  });
  after(() => pair.stop());

  it("shows a port held by another program as locked by its pid, then attaches once it is gone", async () => {
    const holder = spawn("sleep", ["60"]);
    assert.ok(holder.pid);
    const holderLock = `${String(holder.pid).padStart(10)}\n`;
    await writeFile(lockFile, holderLock);
    let daemon: (Daemon & { captureDir: string }) | null = null;
    try {
      daemon = await startTestDaemon({
        ports: [{ id: "pty0", transport: { kind: "tty", path: pair.daemonSide } }],
        config: { lockDir: dir },
      });
      const app = daemon.app;
      await waitUntil(() => daemon?.ports.get("pty0").info().state === "locked", 5000, "locked state");

      const one = await app.inject({ method: "GET", url: "/ports/pty0" });
      assert.equal(one.statusCode, 200);
      const info = one.json<PortInfo>();
      assert.equal(info.state, "locked");
      assert.deepEqual(info.lockedBy, { pid: holder.pid, command: "sleep" });
      assert.match(info.reason ?? "", new RegExp(`in use by pid ${holder.pid} \\(sleep\\)`));
      const all = await app.inject({ method: "GET", url: "/ports" });
      const listed = all.json<PortInfo[]>().find((p) => p.id === "pty0");
      assert.equal(listed?.state, "locked");
      assert.equal(listed?.lockedBy?.pid, holder.pid);

      const target = new TargetSide(pair.targetSide);
      try {
        const sysrq = await app.inject({ method: "POST", url: "/ports/pty0/sysrq", payload: { keys: "h" } });
        assert.equal(sysrq.statusCode, 503);
        assert.equal(sysrq.headers["retry-after"], "1");
        const body = sysrq.json<ErrorBody>();
        assert.equal(body.code, "PORT_UNAVAILABLE");
        assert.match(body.message, new RegExp(`pid ${holder.pid}\\b`));
        assert.equal(body.lockedBy?.pid, holder.pid);
        const write = await app.inject({ method: "POST", url: "/ports/pty0/write", payload: { data: "x" } });
        assert.equal(write.statusCode, 503);
        assert.equal(await readFile(lockFile, "latin1"), holderLock, "the holder's lock is left alone");
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(target.bytes.length, 0, "no byte reached the far end while locked");

        holder.kill("SIGKILL");
        await waitUntil(() => daemon?.ports.get("pty0").info().state === "open", 15_000, "attached");
        const opened = (await app.inject({ method: "GET", url: "/ports/pty0" })).json<PortInfo>();
        assert.equal(opened.lockedBy, undefined);
        assert.equal(await readFile(lockFile, "latin1"), `${String(process.pid).padStart(10)}\n`);

        const sent = await app.inject({
          method: "POST",
          url: "/ports/pty0/write",
          payload: { data: "hello" },
        });
        assert.equal(sent.statusCode, 200);
        await waitUntil(() => target.bytes.toString() === "hello", 2000, "bytes at the far end");
      } finally {
        target.close();
      }
      await daemon.close();
      daemon = null;
      await assert.rejects(readFile(lockFile), { code: "ENOENT" }, "the lock goes with the daemon");
    } finally {
      holder.kill("SIGKILL");
      await daemon?.close();
    }
  });
});

/** picocom's output (it wants a terminal: util-linux `script` gives it one) until it exits by itself. */
function picocomOutput(device: string): Promise<string> {
  return new Promise((resolve) => {
    // --exit-after: picocom leaves after 500 ms without input, so a run that opens the tty ends too.
    const child = spawn("script", ["-qfec", `picocom --exit-after 500 -b 115200 ${device}`, "/dev/null"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(output);
    });
  });
}

describe(
  "Debian's picocom on a tty the daemon holds",
  { skip: requireTools("socat", "picocom", "script") },
  () => {
    it("refuses it: picocom is built with flock(), which serialport's lock also takes", async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-lock-picocom-"));
      const pair = await startPtyPair(path.join(dir, "ttyA"), path.join(dir, "ttyB"));
      let daemon: Daemon | null = null;
      try {
        daemon = await startTestDaemon({
          ports: [{ id: "pty0", transport: { kind: "tty", path: pair.daemonSide } }],
          config: { lockDir: dir },
        });
        await waitUntil(() => daemon?.ports.get("pty0").info().state === "open", 5000, "port open");
        assert.match(await picocomOutput(pair.daemonSide), /FATAL: cannot lock/);
        await daemon.close();
        daemon = null;
        const free = await picocomOutput(pair.daemonSide);
        assert.doesNotMatch(free, /cannot lock/);
        assert.match(free, /Terminal ready/, "once the daemon let go, picocom opens the tty");
      } finally {
        await daemon?.close();
        await pair.stop();
      }
    });
  },
);
