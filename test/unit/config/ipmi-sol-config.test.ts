import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseYamlDocument, resolveConfig } from "../../../src/config/load.js";

function load(yaml: string) {
  return resolveConfig(parseYamlDocument(yaml, "c.yaml"), "/etc/sysrq-bridge");
}

function errorOf(yaml: string): string {
  try {
    load(yaml);
  } catch (err) {
    return (err as Error).message;
  }
  return "no error";
}

const port = (transport: string): string => `ports:\n  - id: bmc7\n    transport: ${transport}\n`;

describe("config: ipmi-sol transport", () => {
  it("resolves the IPMI connection keys as for nmi/power: defaults, password from env", () => {
    process.env["SYSRQ_TEST_SOL_PW"] = "pw-from-env";
    try {
      const t = load(
        port("{ kind: ipmi-sol, host: bmc7.lab, username: ops, passwordEnv: SYSRQ_TEST_SOL_PW }"),
      ).ports[0]?.transport;
      assert.ok(t?.kind === "ipmi-sol", "an ipmi-sol transport");
      assert.equal(t.port, 623);
      assert.equal(t.interface, "lanplus");
      assert.equal(t.password, "pw-from-env");
      assert.equal(t.takeover, false);
      assert.equal(t.cipherSuite, undefined);
      const u = load(
        port(
          "{ kind: ipmi-sol, host: bmc7.lab, port: 6230, username: ops, passwordEnv: SYSRQ_TEST_SOL_PW, cipherSuite: 3, takeover: true }",
        ),
      ).ports[0]?.transport;
      assert.ok(u?.kind === "ipmi-sol" && u.port === 6230 && u.cipherSuite === 3 && u.takeover, "keys kept");
    } finally {
      delete process.env["SYSRQ_TEST_SOL_PW"];
    }
  });

  it("refuses an inline password, a missing secret and unknown keys", () => {
    assert.match(
      errorOf(port("{ kind: ipmi-sol, host: bmc7.lab, username: ops }")),
      /passwordEnv or passwordFile/,
    );
    assert.match(
      errorOf(port("{ kind: ipmi-sol, host: bmc7.lab, username: ops, password: hunter2 }")),
      /password/,
    );
    assert.doesNotMatch(
      errorOf(port("{ kind: ipmi-sol, host: bmc7.lab, username: ops, password: hunter2 }")),
      /hunter2/,
      "the refused password is not echoed",
    );
  });
});
