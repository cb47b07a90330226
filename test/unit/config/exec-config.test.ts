import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseYamlDocument, resolveConfig } from "../../../src/config/load.js";
import { planReload } from "../../../src/config/reload-plan.js";

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

const port = (transport: string, extra = ""): string =>
  `ports:\n  - id: vm0\n    transport: ${transport}\n${extra}`;

describe("config: exec transport", () => {
  it("parses the break sequence after YAML, in single quotes", () => {
    const config = load(
      port(
        "{ kind: exec, argv: [telnet, 127.0.0.1, '4555'], env: { TERM: dumb }, cwd: run, break: { sequence: '\\035send brk\\r' } }",
      ),
    );
    const t = config.ports[0]?.transport;
    assert.ok(t?.kind === "exec", "an exec transport");
    assert.deepEqual(t.argv, ["telnet", "127.0.0.1", "4555"], "argv as written");
    assert.deepEqual(t.env, { TERM: "dumb" }, "env kept");
    assert.equal(t.cwd, "/etc/sysrq-bridge/run", "cwd relative to the config file");
    assert.equal(t.pty, false, "pipes by default");
    assert.deepEqual(
      t.break,
      { steps: [{ kind: "bytes", bytes: Buffer.from("\x1dsend brk\r", "latin1") }], delayMs: 250 },
      "the sequence parsed, delayMs 250 by default",
    );
  });

  it("takes ipmitool's '\\r\\d~B' with a delayMs", () => {
    const t = load(port("{ kind: exec, argv: [x], break: { sequence: '\\r\\d~B', delayMs: 400 } }")).ports[0]
      ?.transport;
    assert.ok(t?.kind === "exec" && t.break, "a break");
    assert.equal(t.break.steps.length, 3, "CR, pause, ~B");
    assert.equal(t.break.delayMs, 400, "delayMs as configured");
  });

  it("refuses a bad escape, naming the path and the escape", () => {
    assert.equal(
      errorOf(port("{ kind: exec, argv: [x], break: { sequence: 'a\\x1d' } }")),
      "ports.0.transport.break.sequence: \\x: not an escape of the break grammar (\\d \\ooo \\r \\n \\t \\a \\b \\f \\v \\\\ \\')",
    );
    assert.match(
      errorOf(port("{ kind: exec, argv: [x], break: { sequence: '\\35' } }")),
      /^ports\.0\.transport\.break\.sequence: \\35: .*three digits/,
    );
    assert.match(
      errorOf(port("{ kind: exec, argv: [x], break: { sequence: '\\z' } }")),
      /^ports\.0\.transport\.break\.sequence: \\z /,
    );
  });

  it("refuses what a double-quoted YAML string did to the sequence", () => {
    // In YAML double quotes "\0" is already a NUL (fine) but "\d" is a YAML error.
    assert.match(
      errorOf(port('{ kind: exec, argv: [x], break: { sequence: "\\d" } }')),
      /unknown escape|escape/i,
    );
  });

  it("refuses a port-level break and a transport break together, naming both", () => {
    assert.match(
      errorOf(
        port(
          "{ kind: exec, argv: [x], break: { sequence: '\\035send brk\\r' } }",
          "    qmp: { path: /run/q.sock }\n    break: { kind: qmp, chardev: s0 }\n",
        ),
      ),
      /^ports\.0\.break and ports\.0\.transport\.break: give one/,
    );
    // Either alone is fine.
    assert.doesNotThrow(
      () =>
        load(
          port(
            "{ kind: exec, argv: [x] }",
            "    qmp: { path: /run/q.sock }\n    break: { kind: qmp, chardev: s0 }\n",
          ),
        ),
      "qmp break alone",
    );
  });

  it("refuses pauses the wire deadline cannot hold, an empty argv and unknown keys", () => {
    assert.match(
      errorOf(port("{ kind: exec, argv: [x], break: { sequence: '\\d\\d\\d\\d\\d\\d\\d', delayMs: 250 } }")),
      /^ports\.0\.transport\.break: 7 pauses/,
    );
    assert.match(errorOf(port("{ kind: exec, argv: [] }")), /^ports\.0\.transport\.argv/);
    assert.match(
      errorOf(port("{ kind: exec, argv: [x], shell: true }")),
      /^ports\.0\.transport\.shell: unknown key/,
    );
  });

  it("reloads an exec port unchanged when its config is, changed when its break or pty is", () => {
    const yaml = port("{ kind: exec, argv: [telnet, h, '23'], break: { sequence: '\\035send brk\\n\\d' } }");
    const same = planReload(load(yaml), load(yaml));
    assert.deepEqual(same.unchanged, ["vm0"], "the same config: the program keeps running");
    const other = planReload(load(yaml), load(yaml.replace("\\d", "")));
    assert.deepEqual(
      other.changed.map((p) => p.id),
      ["vm0"],
      "a new break sequence: restarted",
    );
  });
});
