/** The `recover:` block: defaults, steps as the runner takes them, refusals, and reload. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "../../../src/config/load.js";
import { planReload } from "../../../src/config/reload-plan.js";

const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };

function configOf(extra: Record<string, unknown>) {
  return resolveConfig({ ports: [{ id: "vm0", transport: telnet, ...extra }] }, "/etc/sysrq-bridge");
}

function errorOf(extra: Record<string, unknown>): string {
  try {
    configOf(extra);
  } catch (err) {
    return (err as Error).message;
  }
  return "accepted";
}

describe("recover config", () => {
  it("absent: no ladder; present: every default applied and steps null (the default ladder)", () => {
    assert.equal(configOf({}).ports[0]!.recover, undefined);
    assert.deepEqual(configOf({ recover: { until: "login:" } }).ports[0]!.recover, {
      on: ["panic", "soft-lockup", "hung-task"],
      until: "login:",
      untilTimeoutMs: 120_000,
      cooldownMs: 60_000,
      maxPerHour: 3,
      crashKernel: false,
      steps: null,
      probeEveryMs: 0,
    });
  });

  it("steps become tagged steps; wait defaults to until and untilTimeoutMs", () => {
    const recover = configOf({
      recover: {
        until: "E2E-READY",
        untilTimeoutMs: 9000,
        steps: [
          "probe",
          { sysrq: "wl" },
          "nmi",
          { wait: {} },
          { wait: { match: "Call Trace", timeoutMs: 100 } },
          { power: "cycle" },
          { command: { argv: ["ipmitool", "chassis", "power", "cycle"] } },
        ],
      },
    }).ports[0]!.recover!;
    assert.deepEqual(recover.steps, [
      { kind: "probe" },
      { kind: "sysrq", keys: "wl" },
      { kind: "nmi" },
      { kind: "wait", match: "E2E-READY", timeoutMs: 9000 },
      { kind: "wait", match: "Call Trace", timeoutMs: 100 },
      { kind: "power", action: "cycle" },
      { kind: "command", argv: ["ipmitool", "chassis", "power", "cycle"], timeoutMs: 30_000 },
    ]);
  });

  it("refuses what it cannot run", () => {
    for (const recover of [
      {},
      { until: "" },
      { until: "x", on: ["explode"] },
      { until: "x", steps: [] },
      { until: "x", steps: ["reboot"] },
      { until: "x", steps: [{ sysrq: "b!" }] },
      { until: "x", steps: [{ power: "quit" }] },
      { until: "x", steps: [{ command: { argv: [] } }] },
      { until: "x", steps: [{ sysrq: "b", power: "cycle" }] },
      { until: "x", maxPerHour: 0 },
      { until: "x", probeEveryMs: 999 },
      { until: "x", probeEveryMs: -1 },
      { until: "x", probeEveryMs: 1.5 },
    ]) {
      assert.match(errorOf({ recover }), /recover/, JSON.stringify(recover));
    }
  });

  it("qemu-dump: a step option timeoutMs (default 120000), and refused at load on a port without qmp", () => {
    const qmp = { qmp: { path: "/run/vm0.qmp" } };
    const recover = configOf({
      ...qmp,
      recover: {
        until: "x",
        steps: ["qemu-dump", { "qemu-dump": { timeoutMs: 5000 } }, { "qemu-dump": {} }],
      },
    }).ports[0]!.recover!;
    assert.deepEqual(recover.steps, [
      { kind: "qemu-dump", timeoutMs: 120_000 },
      { kind: "qemu-dump", timeoutMs: 5000 },
      { kind: "qemu-dump", timeoutMs: 120_000 },
    ]);
    for (const step of ["qemu-dump", { "qemu-dump": { timeoutMs: 5000 } }]) {
      let refused: unknown = null;
      try {
        configOf({ recover: { until: "x", steps: [{ sysrq: "w" }, step] } });
      } catch (err) {
        refused = err;
      }
      assert.equal((refused as { code?: string } | null)?.code, "CONFIG_INVALID", JSON.stringify(step));
      assert.match(
        (refused as Error).message,
        /^ports\.0\.recover\.steps\.1: qemu-dump needs a qmp block/,
        JSON.stringify(step),
      );
    }
    assert.match(
      errorOf({ ...qmp, recover: { until: "x", steps: [{ "qemu-dump": { timeoutMs: 0 } }] } }),
      /recover/,
      "a zero timeout",
    );
  });

  it("probeEveryMs: 0 (off) or at least 1000", () => {
    assert.equal(configOf({ recover: { until: "x", probeEveryMs: 0 } }).ports[0]!.recover!.probeEveryMs, 0);
    assert.equal(
      configOf({ recover: { until: "x", probeEveryMs: 1000 } }).ports[0]!.recover!.probeEveryMs,
      1000,
    );
  });

  it("a changed recover block restarts the port on reload (applied live like the other keys)", () => {
    const before = configOf({ recover: { until: "login:" } });
    const after = configOf({ recover: { until: "login:", maxPerHour: 1 } });
    assert.deepEqual(
      planReload(before, after).changed.map((p) => p.id),
      ["vm0"],
    );
    assert.deepEqual(planReload(before, configOf({ recover: { until: "login:" } })).unchanged, ["vm0"]);
  });
});
