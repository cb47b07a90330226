/**
 * The telnet transport in standard mode (RFC 854) against a real ser2net, whose device is one end of a
 * socat pty pair: every byte value crosses both ways intact (0xFF escaped as IAC IAC on the network).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { waitUntil } from "../helpers/daemon.js";
import { startSer2netRig, stopSer2netRig, type Ser2net } from "../helpers/ser2net.js";
import type { PtyPair, TargetSide } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat", "ser2net");
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe("telnet standard mode through a real ser2net", { skip, timeout: 60_000 }, () => {
  let pair: PtyPair;
  let ser2net: Ser2net;
  let daemon: Daemon;
  let target: TargetSide;

  before(async () => {
    ({ pair, ser2net, target, daemon } = await startSer2netRig("sysrq-ser2net-"));
  });
  after(() => stopSer2netRig({ daemon, target, ser2net, pair }));

  it("captures all 256 byte values the device sends, un-escaped", async () => {
    const capture = daemon.ports.get("ts0").capture;
    const start = capture.size;
    target.write(ALL_BYTES);
    await waitUntil(() => capture.size >= start + 256, 5000, "bytes captured");
    await waitUntil(async () => (await readFile(capture.files.raw)).length >= start + 256, 2000, "flushed");
    assert.deepEqual((await readFile(capture.files.raw)).subarray(start), ALL_BYTES);
  });

  it("delivers all 256 byte values written through the API to the device, escaped on the way", async () => {
    const before = target.bytes.length;
    const res = await daemon.app.inject({
      method: "POST",
      url: "/ports/ts0/write",
      payload: { base64: ALL_BYTES.toString("base64") },
    });
    assert.equal(res.statusCode, 200);
    await waitUntil(() => target.bytes.length >= before + 256, 5000, "bytes at the device");
    assert.deepEqual(target.bytes.subarray(before), ALL_BYTES);
  });
});
