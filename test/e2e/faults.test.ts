/**
 * Broken links against real parts: ser2net killed and restarted on the same address, a socat pty pair
 * killed and recreated under the same path. Each time the port goes `connecting`, requests get 503
 * PORT_UNAVAILABLE with Retry-After, the daemon reconnects by itself, and the capture continues in the
 * same raw file with the outage marked as a gap in its line index. (A QEMU guest restarted on the
 * same socket is proven in qemu-guest.test.ts.)
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { Port } from "../../src/ports/port.js";
import { assertContinuedAcrossGap } from "../helpers/capture-index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { startSer2net, startSer2netRig, stopSer2netRig, type Ser2net } from "../helpers/ser2net.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

/** The target prints `text`; resolves with its stream offset once the daemon has captured it. */
async function printed(port: Port, target: TargetSide, text: string): Promise<{ text: string; off: number }> {
  const off = port.capture.size;
  target.write(Buffer.from(text, "latin1"));
  await waitUntil(() => port.capture.size >= off + text.length, 5000, `"${text.trim()}" captured`);
  return { text, off };
}

/** A SysRq request while the link is down: 503 PORT_UNAVAILABLE, and when to retry. */
async function assertUnavailable(daemon: Daemon, portId: string): Promise<void> {
  const res = await daemon.app.inject({
    method: "POST",
    url: `/ports/${portId}/sysrq`,
    payload: { keys: "h" },
  });
  assert.equal(res.statusCode, 503);
  assert.equal(res.json<{ code: string }>().code, "PORT_UNAVAILABLE");
  assert.match(String(res.headers["retry-after"]), /^[1-9]\d*$/, "Retry-After in whole seconds");
}

describe(
  "ser2net restarted on the same address",
  { skip: requireTools("socat", "ser2net"), timeout: 60_000 },
  () => {
    let dir: string;
    let pair: PtyPair;
    let ser2net: Ser2net;
    let daemon: Daemon;
    let target: TargetSide;

    before(async () => {
      ({ dir, pair, ser2net, target, daemon } = await startSer2netRig("sysrq-faults-ser2net-"));
    });
    after(() => stopSer2netRig({ daemon, target, ser2net, pair }));

    it("goes connecting, answers 503 with Retry-After, reconnects, and keeps capturing into the same file", async () => {
      const port = daemon.ports.get("ts0");
      const rawFile = port.capture.files.raw;
      const opensBefore = port.stats().reconnects;
      const beforeLine = await printed(port, target, "before ser2net died\r\n");

      await ser2net.kill();
      await waitUntil(() => port.info().state === "connecting", 3000, "port notices ser2net went away");
      await assertUnavailable(daemon, "ts0");

      ser2net = await startSer2net({ device: pair.daemonSide, dir, port: ser2net.port });
      await waitUntil(() => port.info().state === "open", 5000, "port reconnected by itself");
      assert.equal(port.stats().reconnects, opensBefore + 1);
      await new Promise((r) => setTimeout(r, 300));
      const afterLine = await printed(port, target, "after ser2net came back\r\n");

      assert.equal(port.capture.files.raw, rawFile);
      await assertContinuedAcrossGap(port.capture, beforeLine, afterLine);
    });
  },
);

describe(
  "a tty that disappears and comes back under the same path",
  { skip: requireTools("socat"), timeout: 60_000 },
  () => {
    let pair: PtyPair;
    let daemon: Daemon;

    before(async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-faults-tty-"));
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

    it("goes connecting, answers 503 with Retry-After, reattaches, and keeps capturing into the same file", async () => {
      const port = daemon.ports.get("pty0");
      const rawFile = port.capture.files.raw;
      let target = new TargetSide(pair.targetSide);
      const beforeLine = await printed(port, target, "before the tty vanished\r\n");
      target.close();

      await pair.stop();
      await waitUntil(() => port.info().state === "connecting", 3000, "port notices the tty went away");
      await assertUnavailable(daemon, "pty0");

      const outage = Date.now();
      pair = await startPtyPair(pair.daemonSide, pair.targetSide);
      // ttys back off 0.5 s, 1 s, 2 s ...: a short outage is over within the next two retries.
      await waitUntil(() => port.info().state === "open", 5000, "port reattached by itself");
      const reattachMs = Date.now() - outage;
      target = new TargetSide(pair.targetSide);
      try {
        const afterLine = await printed(port, target, "after the tty came back\r\n");
        assert.equal(port.capture.files.raw, rawFile);
        await assertContinuedAcrossGap(port.capture, beforeLine, afterLine);
      } finally {
        target.close();
      }
      assert.ok(reattachMs < 3000, `reattached ${reattachMs} ms after the device returned`);
    });
  },
);
