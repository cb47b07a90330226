/**
 * Recovery ladders over a fake kernel (the real guest is test/e2e/recovery-guest.test.ts): the
 * watcher's incident starts the ladder, a kernel that stays silent has its SysRq steps skipped before
 * power, POST /recover runs a ladder at once, and the guard rails (cooldown, maxPerHour, quarantine).
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { access, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import type { Incident } from "../../src/recovery/incidents.js";
import { ladderSteps } from "../../src/recovery/ladder-steps.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const PANIC = "[   12.000000] Kernel panic - not syncing: test panic\r\n";
const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };

async function start(kernel: FakeKernel, port: Record<string, unknown>): Promise<Daemon> {
  const daemon = await startTestDaemon({
    createTransport: kernel.factory,
    ports: [{ id: "vm0", transport: telnet, watch: { quietMs: 1000 }, ...port }],
  });
  await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
  return daemon;
}

function incidentOf(daemon: Daemon, since: number): Incident | undefined {
  // The first since `since`: the ladder's (a `reboot` incident may follow it).
  return daemon.app.incidents.list({ port: "vm0", since, ports: null }).incidents[0];
}

async function ended(daemon: Daemon, since: number, timeoutMs: number): Promise<Incident> {
  await waitUntil(() => incidentOf(daemon, since)?.outcome !== undefined, timeoutMs, "the ladder's end");
  return incidentOf(daemon, since)!;
}

async function health(daemon: Daemon): Promise<string> {
  return (await daemon.app.inject({ url: "/ports/vm0" })).json<{ health: string }>().health;
}

async function auditOf(daemon: Daemon): Promise<Record<string, unknown>[]> {
  return (await daemon.app.inject({ url: "/audit?port=vm0" })).json<{ entries: Record<string, unknown>[] }>()
    .entries;
}

describe(
  "a panic on a kernel that no longer answers: probe no-response, SysRq skipped, power",
  { timeout: 30_000 },
  () => {
    const kernel = new FakeKernel(1);
    let daemon: Daemon | undefined;
    let marker = "";
    before(async () => {
      marker = path.join(await mkdtemp(path.join(os.tmpdir(), "sysrq-ladder-")), "cycled");
      daemon = await start(kernel, {
        power: { kind: "command", cycle: ["touch", marker], timeoutMs: 5000 },
        recover: { until: "E2E-READY", untilTimeoutMs: 5000 },
      });
    });
    after(() => daemon?.close());

    it("runs the default ladder and ends recovered once until is seen after the power cycle", async () => {
      const since = daemon!.app.incidents.next;
      kernel.answerDelayMs = 3000; // a panicked kernel runs SysRq silently (later than the probe waits)
      kernel.transports.at(-1)!.print(PANIC);
      await waitUntil(() => daemon!.app.recovery.health("vm0") === "recovering", 3000, "health recovering");
      // The power command ran: the target boots and prints its ready line.
      await waitUntil(
        () =>
          access(marker).then(
            () => true,
            () => false,
          ),
        10_000,
        "the power command",
      );
      kernel.answerDelayMs = 2;
      const target = kernel.transports.at(-1)!;
      target.print("[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org)\r\n");
      target.print("E2E-READY\r\n");
      const incident = await ended(daemon!, since, 10_000);
      assert.deepEqual(incident.kinds, ["panic"]);
      assert.equal(incident.outcome, "recovered");
      assert.equal(incident.state, "closed");
      assert.deepEqual(
        incident.steps.map((s) => [s.step, s.verdict]),
        [
          ["probe", "no-response"],
          ["sysrq w", "skipped"],
          ["sysrq l", "skipped"],
          ["sysrq t", "skipped"],
          ["sysrq s", "skipped"],
          ["sysrq u", "skipped"],
          ["sysrq b", "skipped"],
          ["power cycle", "done"],
          ["until", "matched"],
        ],
      );
      assert.match(incident.steps[1]!.output[0] ?? "", /panicked kernel runs SysRq keys silently/);
      assert.deepEqual(incident.steps.at(-1)!.output, ["E2E-READY"]);
      for (const step of incident.steps) {
        assert.ok(step.ms >= 0 && !Number.isNaN(Date.parse(step.startedAt)), JSON.stringify(step));
      }
      assert.equal(await health(daemon!), "good");
      // Only the probe's BREAK + h reached the wire: the skipped keys sent nothing.
      const writes = kernel.wire.filter((op) => op.op === "write").map((op) => op.bytes.toString("latin1"));
      assert.deepEqual(writes, ["h"]);
      const audit = (await auditOf(daemon!)).filter((r) => r["token"] === "recovery");
      assert.deepEqual(
        audit.map((r) => r["action"]),
        ["probe", "power", "recover"],
      );
      assert.deepEqual([audit.at(-1)!["incident"], audit.at(-1)!["outcome"]], [incident.id, "recovered"]);
    });

    it("within cooldownMs of the last ladder a new panic is left to the watcher: no action, closed observed", async () => {
      await new Promise((r) => setTimeout(r, 1100)); // the last incident has closed (quietMs)
      const since = daemon!.app.incidents.next;
      const wire = kernel.wire.length;
      kernel.transports.at(-1)!.print(PANIC);
      const incident = await ended(daemon!, since, 5000);
      assert.deepEqual([incident.kinds, incident.outcome, incident.steps], [["panic"], "observed", []]);
      assert.equal(kernel.wire.length, wire, "nothing sent");
      assert.equal(await health(daemon!), "good");
    });
  },
);

describe("POST /ports/:id/recover and the guard rails", { timeout: 30_000 }, () => {
  const kernel = new FakeKernel(1);
  const plainKernel = new FakeKernel(1);
  let daemon: Daemon | undefined;
  before(async () => {
    daemon = await startTestDaemon({
      // Each port its own fake, so kernel.transports.at(-1) is vm0's console.
      createTransport: (config) =>
        "endpoint" in config && "port" in config.endpoint && config.endpoint.port === 4556
          ? plainKernel.factory(config)
          : kernel.factory(config),
      ports: [
        {
          id: "vm0",
          transport: telnet,
          watch: { quietMs: 1000 },
          recover: {
            on: ["panic"],
            until: "login: ?$",
            untilTimeoutMs: 2000,
            cooldownMs: 0,
            maxPerHour: 2,
            steps: [{ sysrq: "s" }, { sysrq: "b" }],
          },
        },
        { id: "plain", transport: { ...telnet, port: 4556 } },
      ],
    });
    await waitUntil(() => daemon!.ports.get("vm0").info().state === "open", 2000, "port open");
  });
  after(() => daemon?.close());

  const post = (url: string) => daemon!.app.inject({ method: "POST", url });

  it("GET /ports and /ports/:id show capabilities.recover: the ladder's steps and triggers, or not configured", async () => {
    const one = (await daemon!.app.inject({ url: "/ports/vm0" })).json<{
      capabilities: { recover: unknown };
    }>();
    assert.deepEqual(one.capabilities.recover, {
      configured: true,
      steps: ["sysrq s", "sysrq b"],
      on: ["panic"],
    });
    const list = (await daemon!.app.inject({ url: "/ports" })).json<
      { id: string; capabilities: { recover: unknown } }[]
    >();
    assert.deepEqual(
      list.map((p) => [p.id, p.capabilities.recover]),
      [
        ["vm0", { configured: true, steps: ["sysrq s", "sysrq b"], on: ["panic"] }],
        ["plain", { configured: false }],
      ],
    );
  });

  it("answers 202 with the incident at once; s and b acknowledged, a login: prompt after b: recovered without power", async () => {
    const since = daemon!.app.incidents.next;
    const res = await post("/ports/vm0/recover");
    assert.equal(res.statusCode, 202, res.body);
    const { incident } = res.json<{ incident: Incident }>();
    assert.deepEqual([incident.state, incident.kinds, incident.steps], ["open", [], []]);
    assert.match(incident.trigger.line, /POST \/ports\/vm0\/recover by anonymous/);
    // A second request while it runs joins it.
    const again = await post("/ports/vm0/recover");
    assert.deepEqual(
      [again.statusCode, again.json<{ incident: Incident }>().incident.id],
      [202, incident.id],
    );
    // b disconnects the fake kernel; the port reconnects and the target prints its ready line.
    await waitUntil(() => kernel.transports.length === 2, 5000, "reconnect after b");
    await waitUntil(() => daemon!.ports.get("vm0").info().state === "open", 5000, "port open again");
    // A getty's prompt never ends its line: `until` matches the line being printed too.
    kernel.transports.at(-1)!.print("\r\nDebian GNU/Linux 12 vm0 ttyS0\r\n\r\nvm0 login: ");
    const done = await ended(daemon!, since, 5000);
    assert.equal(done.id, incident.id);
    assert.deepEqual(
      done.steps.map((s) => [s.step, s.verdict]),
      [
        ["sysrq s", "acknowledged"],
        ["sysrq b", "acknowledged"],
        ["until", "matched"],
      ],
    );
    assert.equal(done.outcome, "recovered");
    assert.deepEqual(done.steps.at(-1)!.output, ["vm0 login:"]);
  });

  it("refuses a body field (400), a port without recover (409 RECOVERY_UNCONFIGURED) and an unknown port (404), sending nothing", async () => {
    const wire = kernel.wire.length;
    const since = daemon!.app.incidents.next;
    const bad = await daemon!.app.inject({
      method: "POST",
      url: "/ports/vm0/recover",
      payload: { steps: [] },
    });
    assert.deepEqual([bad.statusCode, bad.json<{ code: string }>().code], [400, "VALIDATION"]);
    assert.equal(daemon!.app.incidents.next, since, "no incident made");
    const plain = await post("/ports/plain/recover");
    assert.deepEqual([plain.statusCode, plain.json<{ code: string }>().code], [409, "RECOVERY_UNCONFIGURED"]);
    const unknown = await post("/ports/nope/recover");
    assert.deepEqual([unknown.statusCode, unknown.json<{ code: string }>().code], [404, "PORT_NOT_FOUND"]);
    assert.equal(kernel.wire.length, wire);
  });

  it("past maxPerHour the port is quarantined: incident quarantined, nothing sent, health bad until DELETE", async () => {
    // The first test's ladder counted once; this panic's is the second (allowed, fails: no until).
    let since = daemon!.app.incidents.next;
    kernel.transports.at(-1)!.print(PANIC);
    const second = await ended(daemon!, since, 10_000);
    assert.equal(second.outcome, "failed");
    await waitUntil(() => daemon!.ports.get("vm0").info().state === "open", 5000, "port open again");
    await new Promise((r) => setTimeout(r, 1200)); // the watcher closes the incident (quietMs)
    since = daemon!.app.incidents.next;
    const wire = kernel.wire.length;
    kernel.transports.at(-1)!.print(PANIC);
    const third = await ended(daemon!, since, 5000);
    assert.deepEqual([third.outcome, third.steps], ["quarantined", []]);
    assert.equal(kernel.wire.length, wire, "no action while quarantined");
    assert.equal(await health(daemon!), "bad");
    const refused = await post("/ports/vm0/recover");
    assert.deepEqual([refused.statusCode, refused.json<{ code: string }>().code], [409, "PORT_QUARANTINED"]);
    const lift = await daemon!.app.inject({ method: "DELETE", url: "/ports/vm0/quarantine" });
    assert.equal(lift.statusCode, 200);
    assert.deepEqual(lift.json(), { lifted: true, health: "good" });
    assert.equal(await health(daemon!), "good");
    const records = await auditOf(daemon!);
    assert.ok(records.some((r) => r["token"] === "recovery" && r["action"] === "quarantine"));
    const lifted = records.findLast((r) => r["action"] === "quarantine-lift");
    assert.deepEqual([lifted?.["token"], lifted?.["lifted"], lifted?.["status"]], ["anonymous", true, 200]);
  });
});

describe("a daemon that stops while a ladder waits", { timeout: 20_000 }, () => {
  it("ends the wait at once: the ladder fails, nothing runs after, close is not held up", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await start(kernel, {
      recover: {
        until: "E2E-READY",
        steps: [{ wait: { match: "never", timeoutMs: 60_000 } }, { sysrq: "s" }],
      },
    });
    const since = daemon.app.incidents.next;
    assert.equal((await daemon.app.inject({ method: "POST", url: "/ports/vm0/recover" })).statusCode, 202);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await daemon.close();
    await daemon.app.recovery.idle();
    assert.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms`);
    const incident = incidentOf(daemon, since)!;
    assert.deepEqual(
      [incident.outcome, incident.steps.map((s) => [s.step, s.verdict])],
      [
        "failed",
        [
          ["wait never", "timeout"],
          ["sysrq s", "not-sent"],
        ],
      ],
    );
    assert.ok(!kernel.wire.some((op) => op.op === "write"), "no key went out");
  });
});

/** Our own children named `comm` (the ladder's commands: still our children, in their own group). */
function childrenNamed(comm: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (name === comm && ppid === process.pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe("a daemon that stops during a power or command step", { timeout: 40_000 }, () => {
  for (const [name, port, step, child] of [
    [
      "a command step: its process group is killed",
      {},
      { command: { argv: ["sleep", "60"], timeoutMs: 120_000 } },
      "command sleep 60",
    ],
    [
      "a power step whose command still runs: killed too",
      { power: { kind: "command", cycle: ["sleep", "60"], timeoutMs: 120_000 } },
      { power: "cycle" },
      "power cycle",
    ],
    [
      "a power step waiting for the boot banner: the wait ends",
      { power: { kind: "command", cycle: ["true"], timeoutMs: 120_000 } },
      { power: "cycle" },
      "power cycle",
    ],
  ] as const) {
    it(`${name}; the verdict is aborted, the ladder failed, close within its deadline`, async () => {
      const kernel = new FakeKernel(1);
      const daemon = await start(kernel, {
        ...port,
        recover: { until: "E2E-READY", untilTimeoutMs: 120_000, steps: [step] },
      });
      const since = daemon.app.incidents.next;
      assert.equal((await daemon.app.inject({ method: "POST", url: "/ports/vm0/recover" })).statusCode, 202);
      if (JSON.stringify([port, step]).includes("sleep"))
        await waitUntil(() => childrenNamed("sleep").length === 1, 3000, "the sleep running");
      else await new Promise((r) => setTimeout(r, 300)); // `true` has run: the step waits for a banner
      const started = Date.now();
      await daemon.close();
      const ms = Date.now() - started;
      assert.ok(ms < 3000, `closed in ${ms} ms`);
      assert.deepEqual(childrenNamed("sleep"), [], "the child is gone");
      const incident = incidentOf(daemon, since)!;
      assert.deepEqual(
        [incident.outcome, incident.steps.map((s) => [s.step, s.verdict])],
        ["failed", [[child, "aborted"]]],
      );
      assert.match(incident.steps[0]!.output[0] ?? "", /the daemon stopped during this step/);
    });
  }
});

describe("an incident a ladder closed takes no more reports", { timeout: 20_000 }, () => {
  it("a panic after the ladder's end, within watch.quietMs, opens a new incident", async () => {
    const kernel = new FakeKernel(1);
    const daemon = await startTestDaemon({
      createTransport: kernel.factory,
      ports: [
        {
          id: "vm0",
          transport: telnet,
          watch: { quietMs: 30_000 },
          recover: {
            on: ["panic"],
            until: "E2E-READY",
            cooldownMs: 0,
            maxPerHour: 10,
            steps: [{ wait: { match: "never", timeoutMs: 100 } }],
          },
        },
      ],
    });
    try {
      await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
      const since = daemon.app.incidents.next;
      kernel.transports.at(-1)!.print(PANIC);
      const first = await ended(daemon, since, 5000);
      assert.deepEqual([first.state, first.outcome], ["closed", "failed"]);
      kernel.transports.at(-1)!.print("[   13.000000] Kernel panic - not syncing: the second one\r\n");
      await waitUntil(
        () => daemon.app.incidents.list({ port: "vm0", since, ports: null }).incidents.length === 2,
        3000,
        "a second incident",
      );
      const [closed, second] = daemon.app.incidents.list({ port: "vm0", since, ports: null }).incidents;
      assert.equal(closed!.id, first.id);
      assert.deepEqual(closed!.report, first.report, "the closed incident took nothing more");
      assert.ok(!closed!.report.some((line) => line.includes("the second one")));
      assert.deepEqual(closed!.spans, first.spans);
      assert.match(second!.trigger.line, /the second one/);
      assert.deepEqual(second!.kinds, ["panic"]);
    } finally {
      await daemon.close();
    }
  });
});

describe("the port's key guard holds for the ladder too", { timeout: 20_000 }, () => {
  it("a key outside sysrqMask is refused (nothing sent); the default ladder leaves t out", async () => {
    const kernel = new FakeKernel(16); // 16: sync only
    const daemon = await start(kernel, {
      sysrqMask: 16,
      recover: { until: "E2E-READY", untilTimeoutMs: 300, steps: [{ sysrq: "sb" }] },
    });
    try {
      const since = daemon.app.incidents.next;
      assert.equal((await daemon.app.inject({ method: "POST", url: "/ports/vm0/recover" })).statusCode, 202);
      const incident = await ended(daemon, since, 10_000);
      assert.deepEqual(
        incident.steps.map((s) => [s.step, s.verdict]),
        [
          ["sysrq s", "acknowledged"],
          ["sysrq b", "refused"],
        ],
      );
      assert.match(incident.steps[1]!.output[0] ?? "", /^KEY_NOT_ALLOWED: /);
      assert.equal(incident.outcome, "failed");
      const writes = kernel.wire.filter((op) => op.op === "write").map((op) => op.bytes.toString("latin1"));
      assert.deepEqual(writes, ["s"]);
      const port = daemon.ports.get("vm0");
      const defaults = ladderSteps(port, { ...port.config.recover!, steps: null });
      assert.deepEqual(
        defaults.map((step) => (step.kind === "sysrq" ? step.keys : step.kind)),
        ["probe", "wl", "su", "b"],
        "no t (mask), no NMI, no power on this port",
      );
    } finally {
      await daemon.close();
    }
  });
});
