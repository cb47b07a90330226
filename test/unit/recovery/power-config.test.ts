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
    assert.equal(
      errorOf({ power: { kind: "pdu" } }),
      "ports.0.power.kind: must be one of qmp, command, pdudaemon, redfish, ipmi",
    );
    assert.match(errorOf({ power: { kind: "command", on: ["x"], shell: "rm -rf" } }), /unknown key/);
    assert.match(errorOf({ probe: { userspace: "yes" } }), /^ports\.0\.probe\.userspace/);
  });

  it("resolves a pdudaemon channel with its defaults; refuses a missing outlet or a non-http url", () => {
    assert.deepEqual(portOf({ power: { kind: "pdudaemon", hostname: "pdu-rack3", outlet: 7 } }).power, {
      kind: "pdudaemon",
      url: "http://127.0.0.1:16421",
      hostname: "pdu-rack3",
      outlet: 7,
      delaySeconds: 5,
      timeoutMs: 30_000,
    });
    assert.match(
      errorOf({ power: { kind: "pdudaemon", hostname: "pdu-rack3" } }),
      /^ports\.0\.power\.outlet: is required/,
    );
    assert.match(
      errorOf({ power: { kind: "pdudaemon", url: "ftp://x", hostname: "p", outlet: 1 } }),
      /^ports\.0\.power\.url/,
    );
    assert.match(
      errorOf({ power: { kind: "pdudaemon", hostname: "p", outlet: 1, delaySeconds: -1 } }),
      /^ports\.0\.power\.delaySeconds/,
    );
  });

  it("resolves a redfish channel as the nmi block does: password from env, never inline", () => {
    process.env["SYSRQ_TEST_POWER_BMC"] = "pw";
    try {
      const redfish = {
        kind: "redfish",
        url: "https://bmc7.lab/redfish/v1/Systems/1",
        username: "ops",
        passwordEnv: "SYSRQ_TEST_POWER_BMC",
      };
      assert.deepEqual(portOf({ power: redfish }).power, {
        kind: "redfish",
        url: "https://bmc7.lab/redfish/v1/Systems/1",
        username: "ops",
        password: "pw",
        auth: "session",
        insecure: false,
      });
      assert.match(
        errorOf({ power: { ...redfish, passwordEnv: undefined } }),
        /^ports\.0\.power: give either passwordEnv or passwordFile/,
      );
      assert.match(errorOf({ power: { ...redfish, password: "pw" } }), /unknown key/);
      assert.match(errorOf({ power: { ...redfish, url: "http://bmc7.lab/x" } }), /^ports\.0\.power\.url/);
    } finally {
      delete process.env["SYSRQ_TEST_POWER_BMC"];
    }
  });

  it("resolves an ipmi block for power and nmi alike: defaults, password from env or file, never inline", () => {
    process.env["SYSRQ_TEST_IPMI_BMC"] = "bmc-pw";
    try {
      const ipmi = { kind: "ipmi", host: "bmc7.lab", username: "ops", passwordEnv: "SYSRQ_TEST_IPMI_BMC" };
      const resolved = {
        kind: "ipmi",
        host: "bmc7.lab",
        port: 623,
        username: "ops",
        password: "bmc-pw",
        interface: "lanplus",
        timeoutMs: 20_000,
        ipmitool: "ipmitool",
      };
      assert.deepEqual(portOf({ power: ipmi }).power, resolved);
      assert.deepEqual(portOf({ nmi: { ...ipmi, port: 6230, cipherSuite: 17 } }).nmi, {
        ...resolved,
        port: 6230,
        cipherSuite: 17,
      });
      assert.match(
        errorOf({ power: { ...ipmi, passwordEnv: undefined } }),
        /^ports\.0\.power: give either passwordEnv or passwordFile/,
      );
      assert.match(errorOf({ nmi: { ...ipmi, password: "pw" } }), /unknown key/);
      assert.match(errorOf({ power: { ...ipmi, interface: "lan" } }), /^ports\.0\.power\.interface/);
    } finally {
      delete process.env["SYSRQ_TEST_IPMI_BMC"];
    }
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
    const pdu = (outlet: number) => doc({ power: { kind: "pdudaemon", hostname: "pdu-rack3", outlet } });
    assert.deepEqual(
      planReload(withPower, pdu(7)).changed.map((p) => p.power?.kind),
      ["pdudaemon"],
      "command -> pdudaemon",
    );
    assert.equal(planReload(pdu(7), pdu(8)).changed.length, 1, "another outlet");
    assert.deepEqual(planReload(pdu(7), pdu(7)).unchanged, ["vm0"]);
  });
});
