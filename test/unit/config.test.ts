import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { loadConfigFile, resolveConfig } from "../../src/config/load.js";

const base = { ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }] };

function errorOf(doc: unknown): string {
  try {
    resolveConfig(doc, "/etc/sysrq-bridge");
  } catch (err) {
    return (err as Error).message;
  }
  return "no error";
}

describe("config", () => {
  it("applies defaults and resolves relative paths against the config file's folder", () => {
    const config = resolveConfig(
      {
        captureDir: "./cap",
        ports: [...base.ports, { id: "ttyS0", transport: { kind: "tty", path: "dev/ttyS0" } }],
      },
      "/etc/sysrq-bridge",
    );
    assert.deepEqual(config.listen, { host: "127.0.0.1", port: 8420 });
    assert.equal(config.captureDir, "/etc/sysrq-bridge/cap");
    const tty = config.ports[1];
    assert.equal(
      tty?.transport.kind === "tty" && "path" in tty.transport.device && tty.transport.device.path,
      "/etc/sysrq-bridge/dev/ttyS0",
    );
    assert.equal(tty?.transport.kind === "tty" && tty.transport.hupcl, false);
    assert.equal(tty?.breakMs, 250);
    assert.equal(config.ports[0]?.sysrqMask, 1);
    assert.equal(config.ports[0]?.transport.kind === "telnet" && config.ports[0].transport.mode, "qemu");
  });

  it("names the exact key of each error", () => {
    assert.equal(errorOf({ ...base, bogus: 1 }), "bogus: unknown key");
    assert.equal(
      errorOf({ ports: [{ id: "vm0", transport: { kind: "telnet", host: "h", port: 1, colour: 2 } }] }),
      "ports.0.transport.colour: unknown key",
    );
    assert.equal(
      errorOf({ ports: [{ id: "vm0", transport: { kind: "usb" } }] }),
      "ports.0.transport.kind: must be one of tty, telnet, rfc2217",
    );
    assert.equal(
      errorOf({ ports: [{ id: "vm0", transport: { kind: "tty", path: "/dev/x" }, break: { kind: "qmp" } }] }),
      "ports.0.break.chardev: is required",
    );
    assert.match(
      errorOf({ ports: [{ id: "bad id!", transport: { kind: "tty", path: "/dev/x" } }] }),
      /^ports\.0\.id: must match pattern/,
    );
    assert.equal(errorOf({ ports: [base.ports[0], base.ports[0]] }), 'ports.1.id: duplicate port id "vm0"');
    assert.equal(
      errorOf({ ports: [{ id: "vm0", transport: { kind: "telnet", host: "h" } }] }),
      "ports.0.transport.port: is required with host",
    );
    assert.match(
      errorOf({ ports: [{ id: "vm0", transport: { kind: "tty", path: "/dev/x", baudRate: "fast" } }] }),
      /^ports\.0\.transport\.baudRate: must be integer/,
    );
  });

  it("requires a qmp block for nmi over qmp, and one kind of qmp endpoint", () => {
    const port = { id: "vm0", transport: { kind: "telnet", host: "h", port: 1 } };
    assert.match(
      errorOf({ ports: [{ ...port, nmi: { kind: "qmp" } }] }),
      /^ports\.0\.nmi: kind qmp needs a qmp block/,
    );
    assert.equal(
      errorOf({ ports: [{ ...port, qmp: { path: "/q", port: 3 } }] }),
      "ports.0.qmp: give either path, or host and port",
    );
    const config = resolveConfig(
      { ports: [{ ...port, qmp: { path: "run/q.sock" }, nmi: { kind: "qmp" } }] },
      "/srv",
    );
    assert.deepEqual(config.ports[0]?.qmp, { path: "/srv/run/q.sock" });
  });

  it("takes a tty by path or by QEMU chardev (which needs qmp), and a QMP break only with qmp", () => {
    assert.equal(
      errorOf({ ports: [{ id: "p", transport: { kind: "tty" } }] }),
      "ports.0.transport: give either path or qmpChardev",
    );
    assert.equal(
      errorOf({ ports: [{ id: "p", transport: { kind: "tty", qmpChardev: "s0" } }] }),
      "ports.0.transport.qmpChardev: needs a qmp block on the port",
    );
    assert.match(
      errorOf({
        ports: [
          { id: "p", transport: { kind: "tty", path: "/dev/x" }, break: { kind: "qmp", chardev: "s0" } },
        ],
      }),
      /^ports\.0\.break: kind qmp needs a qmp block/,
    );
  });

  it("reports YAML errors and duplicate keys with the file name", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-config-"));
    const file = path.join(dir, "c.yaml");
    await writeFile(file, "ports:\n  - id: a\n    id: b\n");
    await assert.rejects(
      loadConfigFile(file),
      (err: Error) => err.message.includes(file) && /YAML/.test(err.message),
    );
  });

  it("does not treat a device that does not exist yet as an error", () => {
    assert.doesNotThrow(() =>
      resolveConfig({ ports: [{ id: "u0", transport: { kind: "tty", path: "/dev/ttyUSB99" } }] }, "/"),
    );
  });
});
