/**
 * Daemon shutdown cuts `POST /ports/:id/power` short: a command channel that hangs (sleep) is killed,
 * the client gets 503 SHUTTING_DOWN, and close() does not wait for the channel.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

/** A distinct duration, so the test finds its own sleep among the machine's processes. */
const SLEEP = "61.2345";

function sleeping(): boolean {
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8") === `sleep\u0000${SLEEP}\u0000`) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

describe("power at daemon shutdown", { timeout: 30_000 }, () => {
  it("a hanging power command is killed, the request answers 503 SHUTTING_DOWN, close is prompt", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await startTestDaemon({
      listen: true,
      createTransport: kernel.factory,
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: 4558 },
          power: { kind: "command", cycle: ["sleep", SLEEP], timeoutMs: 60_000 },
        },
      ],
    });
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
    const answer = fetch(`${daemon.url}/ports/vm0/power`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ action: "cycle", timeoutMs: 60_000 }),
    }).then(async (res) => ({ status: res.status, body: (await res.json()) as { code?: string } }));
    await waitUntil(() => sleeping(), 5000, "the power command runs");
    const t0 = performance.now();
    await daemon.close();
    const closeMs = performance.now() - t0;
    const res = await answer;
    assert.deepEqual([res.status, res.body.code], [503, "SHUTTING_DOWN"], JSON.stringify(res.body));
    assert.ok(closeMs < 5000, `close took ${Math.round(closeMs)} ms`);
    await waitUntil(() => !sleeping(), 3000, "the power command killed");
  });
});
