/** The power: and probe: port keys: resolved with defaults, refused with the key path, applied by reload. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "../../../src/config/load.js";
import { planReload } from "../../../src/config/reload-plan.js";

const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };

function portOf(extra: Record<string, unknown>) {
  return resolveConfig({ ports: [{ id: "vm0", transport: telnet, ...extra }] }, "/etc/sysrq-bridge")
    .ports[0]!;
}

function errorOf(extra: Record<string, unknown>): string {
  try {
    portOf(extra);
  } catch (err) {
    return (err as Error).message;
  }
  return "no error";
}

describe("power and probe config", () => {
  it("resolves a command channel with its default timeout, and probe's defaults", () => {
    const port = portOf({ power: { kind: "command", cycle: ["ipmitool", "chassis", "power", "cycle"] } });
    assert.deepEqual(port.power, {
      kind: "command",
      cycle: ["ipmitool", "chassis", "power", "cycle"],
      timeoutMs: 30_000,
    });
    assert.deepEqual(port.probe, { userspace: false, prompt: "[#$>] ?$" });
    assert.deepEqual(portOf({ probe: { userspace: true, prompt: "login: $" } }).probe, {
      userspace: true,
      prompt: "login: $",
    });
  });

  it("refuses qmp power without a qmp block, a command with no action, an empty argv, an unknown kind", () => {
    assert.match(errorOf({ power: { kind: "qmp" } }), /^ports\.0\.power: kind qmp needs a qmp block/);
    assert.equal(portOf({ qmp: { path: "/run/q.sock" }, power: { kind: "qmp" } }).power?.kind, "qmp");
    assert.match(
      errorOf({ power: { kind: "command" } }),
      /^ports\.0\.power: kind command needs at least one of/,
    );
    assert.match(errorOf({ power: { kind: "command", on: [] } }), /^ports\.0\.power/);
    assert.equal(errorOf({ power: { kind: "pdu" } }), "ports.0.power.kind: must be one of qmp, command");
    assert.match(errorOf({ power: { kind: "command", on: ["x"], shell: "rm -rf" } }), /unknown key/);
    assert.match(errorOf({ probe: { userspace: "yes" } }), /^ports\.0\.probe\.userspace/);
  });

  it("a reload that changes power or probe restarts the port with the new block (applied live)", () => {
    const doc = (extra: Record<string, unknown>) =>
      resolveConfig({ ports: [{ id: "vm0", transport: telnet, ...extra }] }, "/etc/sysrq-bridge");
    const before = doc({});
    const withPower = doc({ power: { kind: "command", reset: ["virsh", "reset", "vm0"] } });
    assert.deepEqual(
      planReload(before, withPower).changed.map((p) => p.power),
      [{ kind: "command", reset: ["virsh", "reset", "vm0"], timeoutMs: 30_000 }],
    );
    assert.equal(planReload(before, doc({ probe: { userspace: true } })).changed.length, 1);
    assert.deepEqual(planReload(withPower, withPower).unchanged, ["vm0"]);
  });
});
