/**
 * The RFC 2217 transport against a real ser2net whose device is a socat pty: the BREAK is proven at
 * the device by tracing ser2net's ioctls (TIOCSBRK ... TIOCCBRK), and the key by reading the far pty.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { freeTcpPort } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { writeRfc2217Config } from "../helpers/ser2net.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requirePyserial, runPyserial } from "../helpers/export-clients.js";
import { requireTools } from "../helpers/tools.js";
import { spawnTraced, straceSeconds, type Traced } from "../helpers/traced.js";

const skip = requireTools("socat", "ser2net", "strace");
const skipPyserial = skip || requirePyserial();

describe("RFC 2217 through a real ser2net", { skip, timeout: 60_000 }, () => {
  let pair: PtyPair;
  let ser2net: Traced;
  let daemon: Daemon;
  let target: TargetSide;
  let trace: string;

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-rfc2217-"));
    pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
    const port = await freeTcpPort();
    const config = await writeRfc2217Config(dir, pair.daemonSide, port);
    trace = path.join(dir, "strace.log");
    ser2net = spawnTraced(trace, "ser2net", ["-n", "-d", "-c", config]);
    target = new TargetSide(pair.targetSide);
    daemon = await startTestDaemon({
      ports: [
        {
          id: "ts0",
          transport: { kind: "rfc2217", host: "127.0.0.1", port, breakMs: 120 },
          export: { rfc2217: { host: "127.0.0.1", port: 0 } },
        },
      ],
    });
    await waitUntil(
      () => daemon.ports.get("ts0").info().capabilities.break.method === "rfc2217-set-control",
      10_000,
      "ser2net accepted COM-PORT-OPTION",
    );
  });
  after(async () => {
    await daemon?.close();
    target?.close();
    await ser2net?.stop();
    await pair?.stop();
  });

  it("holds the device line in BREAK between SET-CONTROL on and off, then sends the key", async () => {
    const before = target.bytes.length;
    const res = await daemon.app.inject({
      method: "POST",
      url: "/ports/ts0/sysrq",
      payload: { keys: "h", timeoutMs: 300 },
    });
    assert.equal(res.statusCode, 200);
    // No kernel behind the pty: the verdict is no-response; the proof is at the device.
    assert.equal(res.json<{ results: { verdict: string }[] }>().results[0]?.verdict, "no-response");
    await waitUntil(() => target.bytes.length > before, 3000, "key at the device");
    assert.equal(target.bytes.subarray(before).toString("latin1"), "h");
    await waitUntil(async () => /TIOCCBRK/.test(await readFile(trace, "utf8")), 3000, "ioctls traced");
    // ser2net clears BREAK when it opens the device; ours is the TIOCSBRK and the TIOCCBRK after it.
    const ioctls = (await readFile(trace, "utf8")).split("\n").filter((l) => /TIOC[SC]BRK/.test(l));
    const on = ioctls.findIndex((l) => l.includes("TIOCSBRK"));
    const off = ioctls.findIndex((l, i) => i > on && l.includes("TIOCCBRK"));
    assert.ok(on !== -1 && off !== -1, `break set, then cleared: ${ioctls.join(" | ")}`);
    const heldMs = (straceSeconds(ioctls[off] ?? "") - straceSeconds(ioctls[on] ?? "")) * 1000;
    assert.ok(
      heldMs >= 100 && heldMs < 1000,
      `BREAK held ${heldMs.toFixed(1)} ms for breakMs 120: ${ioctls.join(" | ")}`,
    );
  });
  it(
    "passes a BREAK held by an RFC 2217 re-export client on to ser2net's device, as long as it is held",
    { skip: skipPyserial },
    async () => {
      const before = (await readFile(trace, "utf8")).split("\n").length - 1; // whole lines so far
      const exported = daemon.exports.address("ts0", "rfc2217") as number;
      const result = await runPyserial(`rfc2217://127.0.0.1:${exported}`, [
        "break_on",
        "sleep:0.4",
        "break_off",
      ]);
      assert.ok(
        result.steps.every((step) => step.ok),
        JSON.stringify(result.steps),
      );
      await waitUntil(
        async () => /TIOCCBRK/.test((await readFile(trace, "utf8")).split("\n").slice(before).join("\n")),
        3000,
        "BREAK released at the device",
      );
      const ioctls = (await readFile(trace, "utf8"))
        .split("\n")
        .slice(before)
        .filter((l) => /TIOC[SC]BRK/.test(l));
      const on = ioctls.findIndex((l) => l.includes("TIOCSBRK"));
      const off = ioctls.findIndex((l, i) => i > on && l.includes("TIOCCBRK"));
      assert.ok(on !== -1 && off !== -1, `break set, then cleared: ${ioctls.join(" | ")}`);
      const heldMs = (straceSeconds(ioctls[off] ?? "") - straceSeconds(ioctls[on] ?? "")) * 1000;
      // One SET-CONTROL 5 ... 6 pair, not a breakMs (120 ms) pulse: the client decided how long.
      assert.ok(
        heldMs >= 300 && heldMs < 1500,
        `BREAK held ${heldMs.toFixed(1)} ms for 400: ${ioctls.join(" | ")}`,
      );
    },
  );
});
