import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "../../../src/config/load.js";
import { configProblems, planReload } from "../../../src/config/reload-plan.js";
import { BridgeError } from "../../../src/errors.js";

const telnet = (port: number) => ({ kind: "telnet", host: "127.0.0.1", port });
const tty = (file: string) => ({ kind: "tty", path: file });

function config(doc: Record<string, unknown>) {
  return resolveConfig({ ports: [{ id: "a", transport: telnet(4001) }], ...doc }, "/etc/sysrq-bridge");
}

describe("reload plan", () => {
  it("sorts ports into added, removed, changed and unchanged", () => {
    const before = config({
      ports: [
        { id: "a", transport: telnet(4001) },
        { id: "b", transport: telnet(4002) },
        { id: "c", transport: telnet(4003) },
      ],
    });
    const after = config({
      ports: [
        { id: "a", transport: telnet(4001) },
        { id: "c", transport: telnet(4003), queueLimit: 5 },
        { id: "d", transport: tty("/dev/ttyS1") },
      ],
    });
    const plan = planReload(before, after);
    assert.deepEqual(
      plan.added.map((p) => p.id),
      ["d"],
    );
    assert.deepEqual(plan.removed, ["b"]);
    assert.deepEqual(
      plan.changed.map((p) => p.id),
      ["c"],
    );
    assert.deepEqual(plan.unchanged, ["a"]);
    assert.deepEqual(plan.refused, []);
  });

  it("applies auth, rateLimit, log.level and retainLines without touching a port", () => {
    const before = config({});
    const after = config({
      auth: { tokens: [{ name: "t", role: "admin", sha256: "ab".repeat(32) }] },
      rateLimit: { max: 5 },
      log: { level: "debug" },
      retainLines: 100,
    });
    const plan = planReload(before, after);
    assert.deepEqual(plan.refused, []);
    assert.deepEqual(plan.unchanged, ["a"]);
    assert.equal(plan.changed.length + plan.added.length + plan.removed.length, 0);
  });

  it("a port whose export acts as a token that changed role is changed", () => {
    const token = (role: string) => ({ auth: { tokens: [{ name: "t", role, sha256: "ab".repeat(32) }] } });
    const port = {
      id: "a",
      transport: telnet(4001),
      export: { telnet: { port: 0, as: "t" } },
    };
    const plan = planReload(
      config({ ...token("read"), ports: [port] }),
      config({ ...token("admin"), ports: [port] }),
    );
    assert.deepEqual(
      plan.changed.map((p) => p.id),
      ["a"],
    );
  });

  it("refuses listen, captureDir, lockDir, capture and audit changes, naming each", () => {
    const ports = [{ id: "s", transport: tty("/dev/ttyS0") }];
    const before = config({ ports });
    const after = config({
      ports,
      listen: { host: "127.0.0.1", port: 9000 },
      captureDir: "/srv/capture",
      lockDir: "/run/lock",
      capture: { rotateBytes: 1 << 20 },
      audit: { file: "/srv/audit.jsonl" },
    });
    const paths = planReload(before, after).refused.map((problem) => problem.path);
    assert.deepEqual(paths.sort(), ["audit", "capture", "captureDir", "listen", "lockDir"]);
    for (const problem of planReload(before, after).refused) assert.match(problem.message, /restart/);
  });

  it("refuses an ssh block added, removed or changed (its listener and host key are bound at start)", () => {
    const ports = [{ id: "s", transport: tty("/dev/ttyS0") }];
    const none = config({ ports });
    const on = config({ ports, ssh: { port: 2222 } });
    const moved = config({ ports, ssh: { port: 2223 } });
    for (const [from, to] of [
      [none, on],
      [on, none],
      [on, moved],
    ] as const) {
      assert.deepEqual(
        planReload(from, to).refused.map((problem) => problem.path),
        ["ssh"],
        "ssh refused",
      );
    }
    assert.deepEqual(planReload(on, config({ ports, ssh: { port: 2222 } })).refused, [], "unchanged is fine");
  });

  it("a config error becomes { path, message }", () => {
    const err = new BridgeError("CONFIG_INVALID", 'ports.1.id: duplicate port id "a"');
    assert.deepEqual(configProblems(err), [{ path: "ports.1.id", message: 'duplicate port id "a"' }]);
    const listed = new BridgeError("CONFIG_INVALID", "x", {
      details: { errors: [{ path: "listen", message: "m" }] },
    });
    assert.deepEqual(configProblems(listed), [{ path: "listen", message: "m" }]);
  });
});
