/**
 * POST /ports/:id/sysrq answers with a Server-Timing header that splits the request into the daemon's
 * phases (values are not asserted, only their presence and order), and a key the kernel answered does
 * not make the next BREAK wait for a quiet line.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { QUIET_BEFORE_BREAK_MS } from "../../src/sysrq/plan.js";
import { FakeKernel } from "../kit/index.js";
import { startFakeKernelDaemon } from "../helpers/daemon.js";

function phases(header: unknown): Map<string, number> {
  assert.equal(typeof header, "string", "a server-timing header");
  return new Map(
    (header as string).split(", ").map((entry) => {
      const match = /^([a-z]+);dur=(\d+\.\d\d)$/.exec(entry);
      assert.ok(match, `entry ${entry} reads name;dur=ms`);
      return [match[1] as string, Number(match[2])];
    }),
  );
}

describe("Server-Timing on SysRq answers", () => {
  let daemon: Daemon;

  before(async () => {
    const kernel = new FakeKernel();
    kernel.answerDelayMs = 0;
    daemon = await startFakeKernelDaemon(kernel);
  });
  after(() => daemon.close());

  const sysrq = () =>
    daemon.app.inject({ method: "POST", url: "/ports/vm0/sysrq", payload: { keys: "h", settleMs: 0 } });

  it("names http, queue, wire, kernel, settle, respond and total, in that order", async () => {
    const res = await sysrq();
    assert.equal(res.statusCode, 200);
    const timing = phases(res.headers["server-timing"]);
    assert.deepEqual([...timing.keys()], ["http", "queue", "wire", "kernel", "settle", "respond", "total"]);
    const parts = [...timing].filter(([name]) => name !== "total").reduce((sum, [, ms]) => sum + ms, 0);
    assert.ok(parts <= (timing.get("total") ?? 0) + 0.1, "the phases add up to at most the total");
  });

  it("sends the next BREAK at once after an answered key (no quiet wait)", async () => {
    await sysrq();
    const timing = phases((await sysrq()).headers["server-timing"]);
    // Waiting for a quiet line would have slept QUIET_BEFORE_BREAK_MS minus the few ms between requests.
    assert.ok((timing.get("wire") ?? Infinity) < QUIET_BEFORE_BREAK_MS / 2, `wire ${timing.get("wire")} ms`);
  });

  it("times nothing on errors and still answers them", async () => {
    const res = await daemon.app.inject({ method: "POST", url: "/ports/nope/sysrq", payload: { keys: "h" } });
    assert.equal(res.statusCode, 404);
    assert.equal(res.headers["server-timing"], undefined);
  });
});
