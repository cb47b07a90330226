/**
 * A target that fails at every boot (issue 16, case 5, over a fake kernel; the real guest is
 * test/e2e/recovery-guest.test.ts): the failure of the boot a ladder's power step started ends that
 * ladder's wait for `until` at once (`failed`), opens its own incident (`follows`), and starts the
 * next ladder after cooldownMs; the one past maxPerHour quarantines the port, and nothing more is sent.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { Incident } from "../../src/recovery/incidents.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const PANIC = "[    1.500000] Kernel panic - not syncing: No working init found.\r\n";
const BANNER = "[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org)\r\n";

describe("a target that panics at every boot", { timeout: 30_000 }, () => {
  const kernel = new FakeKernel(1);
  let daemon: Daemon | undefined;
  let marker = "";
  const cycles = (): number => {
    try {
      return readFileSync(marker, "utf8").split("\n").length - 1;
    } catch {
      return 0;
    }
  };
  before(async () => {
    marker = path.join(await mkdtemp(path.join(os.tmpdir(), "sysrq-bootloop-")), "cycles");
    daemon = await startTestDaemon({
      createTransport: kernel.factory,
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: 4557 },
          watch: { quietMs: 1000 },
          power: { kind: "command", cycle: ["sh", "-c", `echo x >> ${marker}`], timeoutMs: 5000 },
          recover: {
            on: ["panic"],
            until: "E2E-READY",
            untilTimeoutMs: 10_000,
            cooldownMs: 1500,
            maxPerHour: 2,
            steps: [{ power: "cycle" }],
          },
        },
      ],
    });
    await waitUntil(() => daemon!.ports.get("vm0").info().state === "open", 2000, "port open");
  });
  after(() => daemon?.close());

  const list = (since: number): Incident[] =>
    daemon!.app.incidents.list({ port: "vm0", since, ports: null }).incidents;

  /** Each power cycle boots a kernel that panics again. */
  async function bootPanics(n: number): Promise<void> {
    await waitUntil(() => cycles() >= n, 10_000, `power cycle ${n}`);
    const target = kernel.transports.at(-1)!;
    target.print(BANNER);
    target.print(PANIC);
  }

  it("each boot's panic: until failed at once, a new incident follows, next ladder after the cooldown, then quarantined", async () => {
    const since = daemon!.app.incidents.next;
    const t0 = performance.now();
    kernel.transports.at(-1)!.print(PANIC);
    await bootPanics(1);
    await waitUntil(() => list(since)[0]?.outcome !== undefined, 5000, "the first ladder's end");
    const first = list(since)[0]!;
    assert.equal(first.outcome, "failed", JSON.stringify(first.steps));
    assert.deepEqual(
      first.steps.map((s) => [s.step, s.verdict]),
      [
        ["power cycle", "done"],
        ["until", "failed"],
      ],
    );
    assert.deepEqual(first.steps[1]!.output, [
      "the target failed again after the restart: [    1.500000] Kernel panic - not syncing: No working init found.",
    ]);
    assert.ok(performance.now() - t0 < 5000, "the wait for until ended at once, not after untilTimeoutMs");
    const endedAt = performance.now();
    // The second boot's panic: its own incident, following the first, starts the next ladder after the cooldown.
    await bootPanics(2);
    assert.ok(performance.now() - endedAt >= 1400, "not before cooldownMs");
    await waitUntil(() => list(since)[1]?.outcome !== undefined, 5000, "the second ladder's end");
    const second = list(since)[1]!;
    assert.deepEqual(
      [second.kinds, second.follows, second.outcome, second.steps.map((s) => [s.step, s.verdict])],
      [
        ["panic"],
        first.id,
        "failed",
        [
          ["power cycle", "done"],
          ["until", "failed"],
        ],
      ],
    );
    // The third ladder would be past maxPerHour: quarantined, nothing sent.
    await waitUntil(() => list(since)[2]?.outcome !== undefined, 5000, "the third incident's end");
    const third = list(since)[2]!;
    assert.deepEqual(
      [third.kinds, third.follows, third.outcome, third.steps],
      [["panic"], second.id, "quarantined", []],
    );
    assert.equal(daemon!.app.recovery.health("vm0"), "bad");
    const wire = kernel.wire.length;
    const audited = (await daemon!.app.inject({ url: "/audit?port=vm0" })).json<{
      entries: Record<string, unknown>[];
    }>().entries;
    // One more boot panic (the target rebooting on its own): quarantined too, nothing sent.
    kernel.transports.at(-1)!.print(BANNER);
    kernel.transports.at(-1)!.print(PANIC);
    await waitUntil(() => list(since)[3]?.outcome !== undefined, 5000, "the fourth incident's end");
    assert.equal(list(since)[3]!.outcome, "quarantined");
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(cycles(), 2, "no power cycle after the quarantine");
    assert.equal(kernel.wire.length, wire, "nothing on the wire after the quarantine");
    const later = (await daemon!.app.inject({ url: "/audit?port=vm0" })).json<{
      entries: Record<string, unknown>[];
    }>().entries;
    assert.deepEqual(
      later.slice(audited.length).filter((r) => r["token"] === "recovery"),
      [],
      "no recovery action after the quarantine",
    );
    assert.deepEqual(
      audited.filter((r) => r["token"] === "recovery").map((r) => r["action"]),
      ["power", "recover", "power", "recover", "quarantine"],
    );
  });
});
