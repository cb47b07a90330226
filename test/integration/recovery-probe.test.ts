/**
 * Periodic probes (`recover.probeEveryMs`) and the `observed` outcome, over a fake kernel (the real
 * guest: test/e2e/recovery-guest.test.ts): a probe starts a ladder only when the kernel does not
 * answer, never while a ladder runs, and follows reloads and shutdown; a ladder started by `silence`
 * or a probe ends `observed` when its first probe finds the kernel alive, one started by a failure
 * report or the API runs its steps; the recovery metrics count them.
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { resolveConfig } from "../../src/config/load.js";
import { startDaemon, type Daemon } from "../../src/daemon/daemon.js";
import type { Incident } from "../../src/recovery/incidents.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const PANIC = "[   12.000000] Kernel panic - not syncing: test panic\r\n";
const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(kernel: FakeKernel, port: Record<string, unknown>): Promise<Daemon> {
  const daemon = await startTestDaemon({
    createTransport: kernel.factory,
    ports: [{ id: "vm0", transport: telnet, ...port }],
  });
  await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
  return daemon;
}

function incidentsOf(daemon: Daemon, since: number): Incident[] {
  return daemon.app.incidents.list({ port: "vm0", since, ports: null }).incidents;
}

async function ended(daemon: Daemon, since: number, timeoutMs: number): Promise<Incident> {
  await waitUntil(() => incidentsOf(daemon, since)[0]?.outcome !== undefined, timeoutMs, "the ladder's end");
  return incidentsOf(daemon, since)[0]!;
}

async function auditOf(daemon: Daemon): Promise<Record<string, unknown>[]> {
  return (await daemon.app.inject({ url: "/audit?port=vm0" })).json<{ entries: Record<string, unknown>[] }>()
    .entries;
}

const periodic = (records: Record<string, unknown>[]) => records.filter((r) => r["periodic"] === true);
const writes = (kernel: FakeKernel) =>
  kernel.wire.filter((op) => op.op === "write").map((op) => op.bytes.toString("latin1"));

/** A metric's value in the /metrics text (0 when absent). */
async function metric(daemon: Daemon, line: RegExp): Promise<number> {
  const body = (await daemon.app.inject({ url: "/metrics" })).body;
  const found = body.split("\n").find((l) => line.test(l));
  return found === undefined ? 0 : Number(found.slice(found.lastIndexOf(" ") + 1));
}

describe("periodic probes (probeEveryMs)", { timeout: 40_000 }, () => {
  const daemons: Daemon[] = [];
  after(async () => {
    for (const daemon of daemons) await daemon.close();
  });

  it("probe an answering kernel and start nothing; a kernel that stops answering starts one ladder, no probe overlaps it", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await start(kernel, {
      watch: { quietMs: 1000 },
      recover: {
        until: "E2E-READY",
        probeEveryMs: 1000,
        cooldownMs: 60_000,
        // The wait keeps the ladder running well past probeEveryMs: a probe then would overlap it.
        steps: ["probe", { wait: { match: "never", timeoutMs: 3000 } }, { sysrq: "s" }],
      },
    });
    daemons.push(daemon);
    assert.deepEqual(daemon.app.recovery.probing, ["vm0"]);
    const since = daemon.app.incidents.next;
    await waitUntil(async () => periodic(await auditOf(daemon)).length >= 2, 5000, "two periodic probes");
    assert.deepEqual(incidentsOf(daemon, since), [], "an answering kernel opens nothing");
    assert.ok(
      periodic(await auditOf(daemon)).every((r) => r["kernel"] === "alive" && r["token"] === "recovery"),
    );
    assert.ok(
      writes(kernel).every((w) => w === "h"),
      "only the probe's h",
    );
    assert.equal(daemon.app.recovery.health("vm0"), "good");

    kernel.sysrqMask = 0; // the fake's SysRq off: BREAK + h only echoes, as a hung console would
    const incident = await ended(daemon, since, 15_000);
    assert.deepEqual([incident.kinds, incident.outcome], [["probe"], "failed"]);
    assert.match(incident.trigger.line, /^periodic probe: kernel no-response, userspace skipped$/);
    assert.deepEqual(
      incident.steps.map((s) => [s.step, s.verdict]),
      [
        ["periodic probe", "no-response"],
        ["probe", "no-response"],
        ["wait never", "timeout"],
        ["sysrq s", "skipped"],
      ],
    );
    assert.equal(incidentsOf(daemon, since).length, 1, "one incident, one ladder");
    // Between the probe that started the ladder and the ladder's end, no periodic probe ran.
    const records = await auditOf(daemon);
    const trigger = records.findIndex((r) => r["periodic"] === true && r["kernel"] === "no-response");
    const end = records.findIndex((r) => r["action"] === "recover" && r["incident"] === incident.id);
    assert.ok(trigger >= 0 && end > trigger, JSON.stringify(records));
    assert.deepEqual(periodic(records.slice(trigger + 1, end)), [], "a periodic probe ran during the ladder");
    // Within cooldownMs no periodic probe runs either (one would be audited within 1 s + its 2 s).
    const after = periodic(await auditOf(daemon)).length;
    await sleep(3500);
    assert.equal(periodic(await auditOf(daemon)).length, after, "no probe within the cooldown");
    assert.equal(await metric(daemon, /^sysrq_bridge_recoveries_total\{port="vm0",outcome="failed"\}/), 1);
    assert.equal(await metric(daemon, /^sysrq_bridge_incidents_total\{port="vm0",kind="probe"\}/), 1);
  });

  it("a probe-started ladder whose first probe finds the kernel alive ends observed; the API's runs its steps", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await start(kernel, {
      watch: { quietMs: 1000 },
      recover: {
        until: "E2E-READY",
        probeEveryMs: 1000,
        cooldownMs: 60_000,
        steps: ["probe", { sysrq: "s" }],
      },
    });
    daemons.push(daemon);
    const since = daemon.app.incidents.next;
    kernel.answerDelayMs = 3000; // one probe missed (a busy console), then the kernel answers again
    await waitUntil(() => daemon.app.recovery.health("vm0") === "recovering", 8000, "the ladder");
    kernel.answerDelayMs = 2;
    const incident = await ended(daemon, since, 10_000);
    assert.deepEqual(
      [incident.kinds, incident.outcome, incident.steps.map((s) => [s.step, s.verdict])],
      [
        ["probe"],
        "observed",
        [
          ["periodic probe", "no-response"],
          ["probe", "alive"],
        ],
      ],
    );
    assert.match(incident.steps[1]!.output.at(-1) ?? "", /stops as observed/);
    assert.ok(!writes(kernel).includes("s"), "no step after the probe");
    assert.equal(await metric(daemon, /^sysrq_bridge_recoveries_total\{port="vm0",outcome="observed"\}/), 1);

    // POST /recover on the same answering kernel: the steps run (a request is not a suspicion).
    const res = await daemon.app.inject({ method: "POST", url: "/ports/vm0/recover" });
    assert.equal(res.statusCode, 202, res.body);
    const id = res.json<{ incident: Incident }>().incident.id;
    await waitUntil(() => daemon.app.incidents.get(id).outcome !== undefined, 10_000, "the API's ladder");
    const api = daemon.app.incidents.get(id);
    assert.deepEqual(
      [api.outcome, api.steps.map((s) => [s.step, s.verdict])],
      [
        "failed",
        [
          ["probe", "alive"],
          ["sysrq s", "acknowledged"],
        ],
      ],
    );
  });

  it("no periodic probe while the console is down: nothing audited, no incident", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await start(kernel, { recover: { until: "E2E-READY", probeEveryMs: 1000 } });
    daemons.push(daemon);
    const since = daemon.app.incidents.next;
    kernel.reachable = false;
    kernel.transports.at(-1)!.disconnect();
    await waitUntil(() => daemon.ports.get("vm0").info().state !== "open", 2000, "port down");
    await sleep(2100); // a probe that began before the console went down has ended (its 2 s)
    const before = periodic(await auditOf(daemon)).length;
    await sleep(2500);
    assert.equal(periodic(await auditOf(daemon)).length, before, "a probe ran on a console that is down");
    assert.deepEqual(incidentsOf(daemon, since), [], "one that lost its console mid-probe starts nothing");
    assert.equal(daemon.app.recovery.health("vm0"), "good");
  });

  it("a reload applies probeEveryMs live; a removed port's probes and the daemon's stop", async () => {
    const kernel = new FakeKernel(1);
    const captureDir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-probe-"));
    let ports: unknown[] = [{ id: "vm0", transport: telnet, recover: { until: "E2E-READY" } }];
    const config = () => resolveConfig({ captureDir, ports }, "/");
    const daemon = await startDaemon({
      config: config(),
      logger: pino({ level: "silent" }),
      listen: false,
      createTransport: kernel.factory,
      loadConfig: () => Promise.resolve(config()),
    });
    let closed = false;
    try {
      await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
      assert.deepEqual(daemon.app.recovery.probing, [], "probeEveryMs 0: off");
      await sleep(300);
      assert.equal(kernel.wire.length, 0);
      ports = [{ id: "vm0", transport: telnet, recover: { until: "E2E-READY", probeEveryMs: 1000 } }];
      assert.deepEqual((await daemon.reload()).changed, ["vm0"]);
      assert.deepEqual(daemon.app.recovery.probing, ["vm0"]);
      await waitUntil(() => writes(kernel).length >= 2, 5000, "probes after the reload");
      ports = [{ id: "other", transport: { ...telnet, port: 4556 }, watch: false }];
      assert.deepEqual((await daemon.reload()).removed, ["vm0"]);
      assert.deepEqual(daemon.app.recovery.probing, []);
      const sent = kernel.wire.length;
      await sleep(2200);
      assert.equal(kernel.wire.length, sent, "no probe after the port went");
      ports = [{ id: "vm0", transport: telnet, recover: { until: "E2E-READY", probeEveryMs: 1000 } }];
      await daemon.reload();
      assert.deepEqual(daemon.app.recovery.probing, ["vm0"]);
      await daemon.close();
      closed = true;
      assert.deepEqual(daemon.app.recovery.probing, [], "stopped with the daemon");
      const atClose = kernel.wire.length;
      await sleep(1500);
      assert.equal(kernel.wire.length, atClose, "no probe after close");
    } finally {
      if (!closed) await daemon.close();
    }
  });
});

describe("the observed outcome", { timeout: 30_000 }, () => {
  const daemons: Daemon[] = [];
  after(async () => {
    for (const daemon of daemons) await daemon.close();
  });

  it("a ladder started by silence ends observed at its first probe: only h sent; the metrics count it", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await start(kernel, {
      watch: { quietMs: 1000, silenceMs: 1000 },
      recover: { on: ["silence"], until: "E2E-READY", cooldownMs: 60_000 },
    });
    daemons.push(daemon);
    const since = daemon.app.incidents.next;
    const incident = await ended(daemon, since, 10_000);
    assert.deepEqual(
      [incident.kinds, incident.outcome, incident.steps.map((s) => [s.step, s.verdict])],
      [["silence"], "observed", [["probe", "alive"]]],
    );
    assert.deepEqual(writes(kernel), ["h"], "no key beyond the probe's h");
    await waitUntil(
      async () =>
        (await metric(daemon, /^sysrq_bridge_recoveries_total\{port="vm0",outcome="observed"\}/)) === 1,
      2000,
      "the counter",
    );
    const count = await metric(
      daemon,
      /^sysrq_bridge_recovery_duration_seconds_count\{port="vm0",outcome="observed"\}/,
    );
    const sum = await metric(
      daemon,
      /^sysrq_bridge_recovery_duration_seconds_sum\{port="vm0",outcome="observed"\}/,
    );
    assert.equal(count, 1);
    assert.ok(sum > 0 && sum < 5, `duration ${sum} s`);
    // An observed ladder of under 5 s is in the 5 s bucket, not in the 0.x ones that do not exist.
    assert.equal(
      await metric(
        daemon,
        /^sysrq_bridge_recovery_duration_seconds_bucket\{le="5",port="vm0",outcome="observed"\}/,
      ),
      1,
    );
  });

  it("a ladder started by a failure report runs its steps on a kernel that answers", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await start(kernel, {
      watch: { quietMs: 1000 },
      recover: { on: ["panic", "silence"], until: "E2E-READY", steps: ["probe", { sysrq: "s" }] },
    });
    daemons.push(daemon);
    const since = daemon.app.incidents.next;
    kernel.transports.at(-1)!.print(PANIC);
    const incident = await ended(daemon, since, 10_000);
    assert.deepEqual(
      [incident.kinds, incident.outcome, incident.steps.map((s) => [s.step, s.verdict])],
      [
        ["panic"],
        "failed",
        [
          ["probe", "alive"],
          ["sysrq s", "acknowledged"],
        ],
      ],
    );
    assert.equal(await metric(daemon, /^sysrq_bridge_recoveries_total\{port="vm0",outcome="failed"\}/), 1);
    assert.equal(
      await metric(daemon, /^sysrq_bridge_recovery_duration_seconds_count\{port="vm0",outcome="failed"\}/),
      1,
    );
  });
});
