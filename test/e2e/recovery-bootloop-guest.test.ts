/**
 * Issue 16, case 5, as worded: a real guest (panic=0, no -no-reboot, QMP power) whose every boot panics
 * (rdinit=/nonexistent: "Kernel panic - not syncing: VFS: Unable to mount root fs"). The first boot's
 * panic starts the default ladder; its power cycle boots into the same panic, which ends the wait for
 * `until` at once (failed) and opens an incident of its own (`follows`); after cooldownMs that one's
 * ladder runs and fails the same way; the third is past maxPerHour: quarantined, health bad. A boot
 * the test causes through its own QMP socket panics again: quarantined too, nothing sent.
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { QmpClient } from "../../src/control/qmp.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { Incident } from "../../src/recovery/incidents.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { requireTools } from "../helpers/tools.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");
const PANIC = /Kernel panic - not syncing: VFS: Unable to mount root fs/;

describe("a guest that panics at every boot", { skip, timeout: 150_000 }, () => {
  let daemon: Daemon | undefined;
  let guest: Guest | undefined;
  let testQmp: QmpClient | undefined;
  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bootloop-"));
    const sockets = [path.join(dir, "daemon.sock"), path.join(dir, "test.sock")];
    const telnetPort = await freeTcpPort();
    daemon = await startTestDaemon({
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort },
          qmp: { path: sockets[0] },
          power: { kind: "qmp" },
          watch: { quietMs: 2000 },
          recover: {
            on: ["panic"],
            until: READY_MARKER,
            untilTimeoutMs: 60_000,
            cooldownMs: 3000,
            maxPerHour: 2,
          },
        },
      ],
    });
    guest = await startGuest({
      telnetPort,
      append: ["panic=0", "rdinit=/nonexistent"],
      extraArgs: sockets.flatMap((sock) => ["-qmp", `unix:${sock},server=on,wait=off`]),
      reboot: true,
    });
    testQmp = new QmpClient({ path: sockets[1]! });
  });
  after(async () => {
    testQmp?.close();
    await daemon?.close();
    await guest?.stop();
  });

  const list = (): Incident[] => daemon!.app.incidents.list({ port: "vm0", ports: null }).incidents;
  const steps = (incident: Incident) => incident.steps.map((s) => [s.step, s.verdict]);
  const audit = async (): Promise<Record<string, unknown>[]> =>
    (await daemon!.app.inject({ url: "/audit?port=vm0" })).json<{ entries: Record<string, unknown>[] }>()
      .entries;
  const metric = async (name: string): Promise<string[]> =>
    (await daemon!.app.inject({ url: "/metrics" })).body
      .split("\n")
      .filter((line) => line.startsWith(name) && line.includes('port="vm0"'));

  it("two ladders fail on the new boot's panic at once, the third trigger quarantines; nothing sent after", async () => {
    await waitUntil(() => list()[2]?.outcome !== undefined, 120_000, "the third incident's end");
    const [first, second, third] = list() as [Incident, Incident, Incident];
    const ladder = [
      ["probe", "no-response"],
      ["sysrq w", "skipped"],
      ["sysrq l", "skipped"],
      ["sysrq t", "skipped"],
      ["sysrq s", "skipped"],
      ["sysrq u", "skipped"],
      ["sysrq b", "skipped"],
      ["power cycle", "done"],
      ["until", "failed"],
    ];
    assert.deepEqual(
      [first.kinds, first.follows, first.outcome, steps(first)],
      [["panic"], undefined, "failed", ladder],
      JSON.stringify(first.steps),
    );
    assert.match(
      first.steps[8]!.output[0] ?? "",
      /^the target failed again after the restart: .*VFS: Unable/,
    );
    assert.ok(
      first.steps[8]!.ms < 30_000,
      `until ended at the panic, not after untilTimeoutMs (${first.steps[8]!.ms} ms)`,
    );
    assert.deepEqual(
      [second.kinds, second.follows, second.outcome, steps(second)],
      [["panic"], first.id, "failed", ladder],
      JSON.stringify(second.steps),
    );
    assert.ok(
      Date.parse(second.steps[0]!.startedAt) - Date.parse(first.closed!) >= 2900,
      "the next ladder waited cooldownMs",
    );
    assert.ok(
      second.report.some((line) => PANIC.test(line)),
      "the second boot's report",
    );
    assert.deepEqual(
      [third.kinds, third.follows, third.outcome, third.steps],
      [["panic"], second.id, "quarantined", []],
    );
    assert.equal((await daemon!.app.inject({ url: "/ports/vm0" })).json<{ health: string }>().health, "bad");

    // One more boot, by the test's own QMP socket: it panics too; quarantined, nothing sent.
    const audited = (await audit()).length;
    const sysrq = await metric("sysrq_bridge_sysrq_verdicts_total");
    const seq = daemon!.ports.get("vm0").capture.lines.next;
    const since = daemon!.app.incidents.next;
    const after = (): Incident[] => daemon!.app.incidents.list({ port: "vm0", since, ports: null }).incidents;
    await testQmp!.execute("system_reset");
    // Someone else's reset: a `reboot` incident (not ours), then the boot's panic, quarantined.
    await waitUntil(
      () => after().some((i) => i.kinds.includes("panic") && i.outcome !== undefined),
      40_000,
      "the next panic's end",
    );
    const panicked = after().find((i) => i.kinds.includes("panic"))!;
    assert.deepEqual([panicked.outcome, panicked.steps], ["quarantined", []], JSON.stringify(after()));
    await new Promise((r) => setTimeout(r, 5000));
    const later = (await audit()).slice(audited);
    assert.deepEqual(
      later.filter((r) => r["token"] === "recovery"),
      [],
      "no recovery action after the quarantine",
    );
    assert.deepEqual(await metric("sysrq_bridge_sysrq_verdicts_total"), sysrq, "no BREAK + key sent");
    // One boot (the test's reset) and no other: no power went out on the port's behalf.
    const boots = await daemon!.app.inject({
      url: `/ports/vm0/log?since=${seq}&match=${encodeURIComponent("Linux version")}`,
    });
    assert.equal(boots.json<{ lines: unknown[] }>().lines.length, 1, boots.body.slice(0, 2000));
    // The reset's `reboot` either closes on its own before the panic or is joined by it (one boot, one
    // incident: which depends on how fast the guest boots); either way the panic is the last incident.
    const ended = after().map((i) => [i.kinds, i.outcome, i.steps.length] as const);
    const last = ended.at(-1);
    assert.ok(last !== undefined, "an incident after the reset");
    assert.deepEqual([last[0].at(-1), last[1], last[2]], ["panic", "quarantined", 0], JSON.stringify(ended));
    assert.deepEqual(
      ended.slice(0, -1),
      ended.slice(0, -1).map(() => [["reboot"], "observed", 0]),
      "no incident after the quarantined panic (no new boot): " + JSON.stringify(ended),
    );
    const recoveryActions = (await audit()).filter((r) => r["token"] === "recovery").map((r) => r["action"]);
    assert.deepEqual(recoveryActions, [
      "probe",
      "power",
      "recover",
      "probe",
      "power",
      "recover",
      "quarantine",
    ]);
  });
});
