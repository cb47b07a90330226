/**
 * Writes go to the wire at the line rate (issue 13 item 13), over a real listener with a fake kernel
 * behind a telnet port (paced as 115200 baud: 11 520 bytes a second, 1 s of it ahead at most). The
 * real-guest proof (a stopped QEMU) is in test/e2e/sysrq-truth.test.ts.
 */
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startFakeKernelDaemon, waitUntil } from "../helpers/daemon.js";
import { client } from "../helpers/http.js";
import { openConsole } from "../helpers/ws.js";

const RATE = 11_520;
const BYTES = 40_000; // 3.5 s of line time: 1 s goes at once, the rest is paced (>= 2.4 s)

describe("write pacing", () => {
  let kernel: FakeKernel;
  let daemon: Daemon;
  const written = () => kernel.wire.reduce((n, op) => n + (op.op === "write" ? op.bytes.length : 0), 0);

  before(async () => {
    kernel = new FakeKernel();
    daemon = await startFakeKernelDaemon(kernel, {
      listen: true,
    });
  });
  after(async () => {
    // The fake kernel echoes 80 000 one-byte chunks: let the capture write them before closing (a
    // close while its writes are queued rejects with fd -1 after the test).
    const capture = daemon.ports.get("vm0").capture;
    await waitUntil(
      async () => (await stat(capture.files.raw)).size === capture.size,
      10_000,
      "capture flushed",
    );
    await new Promise((r) => setTimeout(r, 1500)); // and its index and line log
    await daemon.close();
  });

  it("sends a POST /write at the line rate, and refuses one that cannot start within its timeoutMs", async () => {
    const api = client(daemon.url);
    const startedAt = performance.now();
    const first = api.post("/ports/vm0/write", { data: "#".repeat(BYTES) });
    let firstAnswered = false;
    void first.then(() => (firstAnswered = true));
    await waitUntil(() => written() > 0, 2000, "the first bytes go at once");
    // 1 s of line time at once, then the line rate (in 100 ms pieces).
    const allowed = RATE * (1 + (performance.now() - startedAt) / 1000) + RATE / 10;
    assert.ok(written() <= allowed, `${written()} bytes on the wire, at most ${Math.round(allowed)}`);
    const late = await api.post<{ code: string }>("/ports/vm0/write", {
      data: "#".repeat(BYTES),
      timeoutMs: 300,
    });
    assert.equal(late.status, 429);
    assert.equal(late.body.code, "QUEUE_FULL");
    assert.match(late.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    // The first holds the line for 3.5 s: the refusal must come while it still runs (a load-proof "at once").
    assert.equal(firstAnswered, false, "refused at once, not after waiting out the first");
    assert.equal((await first).status, 200);
    const took = performance.now() - startedAt;
    assert.ok(took >= 2000, `3.5 s of line time took ${Math.round(took)} ms, not a burst`);
    assert.equal(written(), BYTES, "the refused write sent nothing");
  });

  it("paces console (WebSocket) input the same way", async () => {
    kernel.wire.length = 0;
    await new Promise((r) => setTimeout(r, 1100)); // the line carries the earlier test's last bytes
    const rig = openConsole(`${daemon.url.replace(/^http/, "ws")}/ports/vm0/console`);
    await rig.next("hello");
    rig.control({ type: "lease", action: "take" });
    await rig.next("lease", (m) => m["yours"] === true);
    const startedAt = performance.now();
    rig.input(Buffer.alloc(BYTES, "#"));
    await waitUntil(() => written() === BYTES, 5000, "all console input on the wire");
    const took = performance.now() - startedAt;
    assert.ok(took >= 2000, `3.5 s of line time took ${Math.round(took)} ms, not a burst`);
    rig.socket.close();
  });
});
