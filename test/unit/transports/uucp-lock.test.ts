import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { TransportOpenError } from "../../../src/transports/transport.js";
import {
  DeviceLockedError,
  acquireUucpLock,
  lockFileName,
  parseLockPid,
  type UucpLock,
} from "../../../src/transports/uucp-lock.js";

/** A pid that is certainly not running: a child that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.once("exit", resolve));
  assert.ok(child.pid);
  return child.pid;
}

function taken(lock: Awaited<ReturnType<typeof acquireUucpLock>>): UucpLock {
  assert.ok("release" in lock, `expected a lock, got ${JSON.stringify(lock)}`);
  return lock;
}

describe("UUCP lock file names", () => {
  it("strips /dev/ and turns / into _ as minicom, picocom and ser2net do", () => {
    assert.equal(lockFileName("/dev/ttyS0"), "LCK..ttyS0");
    assert.equal(lockFileName("/dev/ttyUSB1"), "LCK..ttyUSB1");
    assert.equal(lockFileName("/dev/pts/3"), "LCK..pts_3");
    assert.equal(lockFileName("/tmp/x/ttyA"), "LCK..ttyA", "outside /dev: the last component");
  });

  it("reads HDB (ASCII) and old binary pids, and nothing else", () => {
    assert.equal(parseLockPid(Buffer.from("      4242\n")), 4242);
    assert.equal(parseLockPid(Buffer.from("0123\n")), 123, "picocom writes %04d");
    const binary = Buffer.alloc(4);
    binary.writeInt32LE(31337);
    assert.equal(parseLockPid(binary), 31337);
    assert.equal(parseLockPid(Buffer.from("")), null);
    assert.equal(parseLockPid(Buffer.from("garbage\n")), null);
  });
});

describe("acquireUucpLock", () => {
  let dir: string;
  let file: string;
  let holder: ChildProcess | null = null;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-lock-"));
    file = path.join(dir, "LCK..ttyS0");
  });
  afterEach(() => {
    holder?.kill("SIGKILL");
    holder = null;
  });

  it("takes a free lock as exactly ten right-aligned characters and a newline, and releases it", async () => {
    const lock = taken(await acquireUucpLock(dir, "/dev/ttyS0", 4242));
    assert.equal(lock.file, file);
    assert.equal(await readFile(file, "latin1"), "      4242\n");
    assert.equal(lock.replacedStalePid, undefined);
    await lock.release();
    await assert.rejects(readFile(file), { code: "ENOENT" });
    assert.deepEqual(await readdir(dir), [], "no temporary file left behind");
  });

  it("refuses a lock a live process holds, naming its pid and command", async () => {
    const child = spawn("sleep", ["30"]);
    holder = child;
    assert.ok(child.pid);
    await writeFile(file, `${String(child.pid).padStart(10)}\n`);
    await assert.rejects(acquireUucpLock(dir, "/dev/ttyS0", 4242), (err: unknown) => {
      assert.ok(err instanceof DeviceLockedError);
      assert.ok(err instanceof TransportOpenError, "the port retries it like any open failure");
      assert.equal(err.code, "LOCKED");
      assert.deepEqual(err.holder, { pid: child.pid, command: "sleep" });
      assert.match(err.message, new RegExp(`/dev/ttyS0 is in use by pid ${child.pid} \\(sleep\\)`));
      return true;
    });
    assert.equal(await readFile(file, "latin1"), `${String(child.pid).padStart(10)}\n`, "left untouched");
  });

  it("removes a lock whose pid is gone, takes it and says whose it was", async () => {
    const gone = await deadPid();
    await writeFile(file, `${String(gone).padStart(10)}\n`);
    const lock = taken(await acquireUucpLock(dir, "/dev/ttyS0", 4242));
    assert.equal(lock.replacedStalePid, gone);
    assert.equal(await readFile(file, "latin1"), "      4242\n");
  });

  it("treats a stale binary lock the same way", async () => {
    const binary = Buffer.alloc(4);
    binary.writeInt32LE(await deadPid());
    await writeFile(file, binary);
    taken(await acquireUucpLock(dir, "/dev/ttyS0", 4242));
    assert.equal(await readFile(file, "latin1"), "      4242\n");
  });

  it("keeps a lock that already names our pid, and then leaves it for whoever wrote it", async () => {
    await writeFile(file, "      4242\n");
    const lock = taken(await acquireUucpLock(dir, "/dev/ttyS0", 4242));
    await lock.release();
    assert.equal(await readFile(file, "latin1"), "      4242\n");
  });

  it("releases only a lock that still names our pid", async () => {
    const lock = taken(await acquireUucpLock(dir, "/dev/ttyS0", 4242));
    await writeFile(file, "      9999\n"); // someone else's now
    await lock.release();
    assert.equal(await readFile(file, "latin1"), "      9999\n");
  });

  it("waits on an unparseable lock while it is fresh (its owner may be writing it), then removes it", async () => {
    await writeFile(file, "");
    await assert.rejects(acquireUucpLock(dir, "/dev/ttyS0", 4242), { code: "EBUSY" });
    const old = new Date(Date.now() - 60_000);
    await utimes(file, old, old);
    taken(await acquireUucpLock(dir, "/dev/ttyS0", 4242));
  });

  it("opens without a lock when the directory cannot hold one", async () => {
    const missing = await acquireUucpLock(path.join(dir, "missing"), "/dev/ttyS0", 4242);
    assert.ok("skipped" in missing);
    assert.match(missing.skipped, /ENOENT/);
    await writeFile(path.join(dir, "plain-file"), "");
    const notADir = await acquireUucpLock(path.join(dir, "plain-file"), "/dev/ttyS0", 4242);
    assert.ok("skipped" in notADir);
  });
});
