/**
 * Another program on the same tty: a live pid in the UUCP lock file (as picocom or minicom leave it)
 * makes the port `locked` with the holder named, requests get 503, and the daemon attaches by itself
 * once the holder is gone; while it holds the device, its own lock file says so.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, realpath, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon.js";
import { lockFileName } from "../../src/transports/uucp-lock.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat");

describe("UUCP lock files on a real pty", { skip }, () => {
  let dir: string;
  let pair: PtyPair;
  let lockFile: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-lock-e2e-"));
    pair = await startPtyPair(path.join(dir, "ttyA"), path.join(dir, "ttyB"));
    lockFile = path.join(dir, lockFileName(await realpath(pair.daemonSide)));
  });
  after(() => pair.stop());

  it("shows a port held by another program as locked by its pid, then attaches once it is gone", async () => {
    const holder = spawn("sleep", ["60"]);
    await writeFile(lockFile, `${String(holder.pid).padStart(10)}\n`);
    let daemon: (Daemon & { captureDir: string }) | null = null;
    try {
      daemon = await startTestDaemon({
        ports: [{ id: "pty0", transport: { kind: "tty", path: pair.daemonSide } }],
        config: { lockDir: dir },
      });
      const port = daemon.ports.get("pty0");
      await waitUntil(() => port.info().state === "locked", 5000, "locked state");
      assert.match(port.info().reason ?? "", new RegExp(`in use by pid ${holder.pid} \\(sleep\\)`));
      const res = await daemon.app.inject({
        method: "POST",
        url: "/ports/pty0/write",
        payload: { data: "x" },
      });
      assert.equal(res.statusCode, 503);
      assert.equal(res.headers["retry-after"], "1");

      holder.kill("SIGKILL");
      await waitUntil(() => port.info().state === "open", 15_000, "attached after the holder left");
      assert.equal(await readFile(lockFile, "utf8"), `${String(process.pid).padStart(10)}\n`);
      const target = new TargetSide(pair.targetSide);
      try {
        const write = await daemon.app.inject({
          method: "POST",
          url: "/ports/pty0/write",
          payload: { data: "hello" },
        });
        assert.equal(write.statusCode, 200);
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
