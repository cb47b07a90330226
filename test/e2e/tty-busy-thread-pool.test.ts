/**
 * A tty's console keeps flowing while libuv's thread pool is stuck, as it is behind a slow disk
 * (every fdatasync and write of the audit log and capture runs there). Each pool thread is held by
 * opening a FIFO no one writes to, so the pool stays stuck until the test lets it go: nothing here
 * depends on how fast the machine is.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { openSync, closeSync, constants } from "node:fs";
import { mkdtemp, open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

/** Holds every thread of the pool in open(2) on a FIFO; release() lets them all go. */
async function holdThreadPool(dir: string): Promise<{ release: () => Promise<void> }> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const fifos = Array.from({ length: threads }, (_, i) => path.join(dir, `stuck-${i}`));
  for (const fifo of fifos) execFileSync("mkfifo", [fifo]);
  const held = fifos.map((fifo) => open(fifo, "r"));
  // The probe needs a pool thread, so it runs only once the holds have all let go.
  let probeDone = false;
  const probe = open(os.devNull, "r").then((h) => ((probeDone = true), h.close()));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(probeDone, false, "the thread pool is held");
  return {
    release: async () => {
      // A writer opening each FIFO frees the reader blocked in open(2) on it.
      const writers = fifos.map((fifo) => openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      for (const handle of await Promise.all(held)) await handle.close();
      for (const fd of writers) closeSync(fd);
      await probe;
    },
  };
}

describe(
  "a tty while libuv's thread pool is stuck (a slow disk)",
  { skip: requireTools("socat"), timeout: 60_000 },
  () => {
    let dir: string;
    let pair: PtyPair;
    let daemon: Daemon;

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-busy-pool-"));
      pair = await startPtyPair(path.join(dir, "ttyDAEMON"), path.join(dir, "ttyTARGET"));
      daemon = await startTestDaemon({
        ports: [{ id: "pty0", transport: { kind: "tty", path: pair.daemonSide } }],
      });
      await waitUntil(() => daemon.ports.get("pty0").info().state === "open", 5000, "pty open");
    });
    after(async () => {
      await daemon?.close();
      await pair?.stop();
    });

    it("still reads what the target prints, writes what a client types, and notices the tty vanish", async () => {
      const port = daemon.ports.get("pty0");
      const target = new TargetSide(pair.targetSide);
      const pool = await holdThreadPool(dir);
      let written: Promise<unknown> = Promise.resolve();
      try {
        const text = "printed while the disk is slow\r\n";
        const before = port.capture.size;
        target.write(Buffer.from(text, "latin1"));
        await waitUntil(() => port.capture.size >= before + text.length, 5000, "the line read from the tty");

        // The bytes go out now; the write resolves after tcdrain, which still takes a pool thread.
        // The tty is gone before the pool frees, so the drain fails then: that is not under test.
        written = port.write(Buffer.from("typed\r", "latin1"), 5000).catch(() => undefined);
        await waitUntil(() => target.bytes.includes("typed\r"), 5000, "the typed bytes on the line");

        target.close();
        await pair.stop();
        await waitUntil(() => port.info().state === "connecting", 5000, "port notices the tty went away");
      } finally {
        await pool.release();
      }
      await written;
    });
  },
);
