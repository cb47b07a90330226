import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { DeviceLockedError, acquireUucpLock, lockFileName } from "../../src/transports/uucp-lock.js";

describe("UUCP lock files", () => {
  it("names locks as lockdev does", () => {
    assert.equal(lockFileName("/dev/ttyS0"), "LCK..ttyS0");
    assert.equal(lockFileName("/dev/pts/3"), "LCK..pts_3");
    assert.equal(lockFileName("/dev/serial/by-id/x"), "LCK..serial_by-id_x");
  });

  it("takes a free lock in HDB format, refuses a live holder, replaces a stale one, releases only its own", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-lock-"));
    const file = path.join(dir, "LCK..ttyS0");
    const lock = await acquireUucpLock(dir, "/dev/ttyS0", 4242);
    assert.ok("release" in lock);
    assert.equal(await readFile(file, "utf8"), "      4242\n");
    await lock.release();
    await assert.rejects(readFile(file), { code: "ENOENT" });

    const holder = spawn("sleep", ["30"]);
    try {
      await writeFile(file, `${String(holder.pid).padStart(10)}\n`);
      await assert.rejects(acquireUucpLock(dir, "/dev/ttyS0", 4242), (err: unknown) => {
        assert.ok(err instanceof DeviceLockedError);
        assert.equal(err.holderPid, holder.pid);
        assert.equal(err.holderCommand, "sleep");
        return true;
      });
    } finally {
      holder.kill("SIGKILL");
    }
    await new Promise((resolve) => holder.once("exit", resolve));
    const stale = await acquireUucpLock(dir, "/dev/ttyS0", 4242);
    assert.ok("release" in stale, "a lock whose pid is gone is stale and taken over");
    await writeFile(file, "      9999\n"); // someone else's now: release must not remove it
    await stale.release();
    assert.equal(await readFile(file, "utf8"), "      9999\n");
  });

  it("opens without a lock when the directory cannot hold one", async () => {
    const lock = await acquireUucpLock("/nonexistent-lock-dir", "/dev/ttyS0");
    assert.ok("skipped" in lock);
  });
});
