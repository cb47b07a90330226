import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  loadConfigFile,
  parseJsonDocument,
  parseYamlDocument,
  resolveConfig,
  KINDS_BY_KEY,
} from "../../../src/config/load.js";
import { ConfigSchema } from "../../../src/config/schema.js";

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
      "ports.0.transport.kind: must be one of tty, telnet, rfc2217, exec, ipmi-sol",
    );
    assert.equal(
      errorOf({ ports: [{ id: "vm0", transport: { kind: "tty", path: "/dev/x" }, nmi: { kind: "snmp" } }] }),
      "ports.0.nmi.kind: must be one of qmp, redfish, ipmi",
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

  it("refuses mark and space parity on a tty (serialport's Linux binding cannot open with them)", () => {
    for (const parity of ["mark", "space"]) {
      assert.equal(
        errorOf({ ports: [{ id: "p", transport: { kind: "tty", path: "/dev/x", parity } }] }),
        "ports.0.transport.parity: a tty takes none, even or odd (mark and space are for rfc2217)",
      );
    }
    const rfc2217 = { kind: "rfc2217", host: "ts", port: 2001, parity: "mark" };
    const config = resolveConfig({ ports: [{ id: "p", transport: rfc2217 }] }, "/srv");
    assert.equal(
      config.ports[0]?.transport.kind === "rfc2217" && config.ports[0].transport.line.parity,
      "mark",
    );
  });

  it("reports YAML errors and duplicate keys with the file name", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-config-"));
    const file = path.join(dir, "c.yaml");
    await writeFile(file, "ports:\n  - id: a\n    id: b\n");
    await assert.rejects(
      loadConfigFile(file),
      (err: Error) =>
        err.message.includes(file) &&
        /YAML error: duplicated mapping key at line 3, column 5:\n\n[^]*\n 3 \| {5}id: b\n-+\^/.test(
          err.message,
        ),
    );
  });

  it("reads a JSON config as the YAML parser would, and leaves duplicate keys to it", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-config-"));
    const doc = {
      ...base,
      listen: { host: "127.0.0.1", port: 8420 },
      log: { level: "warn" },
      ports: [
        { id: "a", transport: { kind: "telnet", host: 'h\\":"x":', port: 1 } },
        { id: "b", transport: { kind: "tty", path: './dev/\u00e9 "q"' }, sysrqMask: 0 },
      ],
    };
    for (const text of [JSON.stringify(doc), JSON.stringify(doc, null, "\t"), JSON.stringify(doc, null, 2)]) {
      assert.deepEqual(parseJsonDocument(text), parseYamlDocument(text, "c.json"));
      const file = path.join(dir, "c.json");
      await writeFile(file, text);
      assert.deepEqual(await loadConfigFile(file), resolveConfig(doc, dir));
    }
    for (const text of [
      '{"a": 1, "a" : 2}',
      '{"a": {"b": 1, "b": 1}}',
      "ports: []",
      "{a: 1}",
      '\ufeff{"a": 1}',
    ]) {
      assert.equal(parseJsonDocument(text), undefined, text);
    }
    const file = path.join(dir, "dup.json");
    await writeFile(file, JSON.stringify(doc).replace('"log":', '"ports":[],"log":'));
    await assert.rejects(
      loadConfigFile(file),
      (err: Error) =>
        err.message.includes(file) && /YAML error: duplicated mapping key at line 1,/.test(err.message),
    );
  });

  it("takes UUCP locks in /var/lock by default, in lockDir (resolved like captureDir), or nowhere", () => {
    const lockDirOf = (extra: object): string | null | undefined => {
      const tty = { id: "u0", transport: { kind: "tty", path: "/dev/ttyS0" } };
      const port = resolveConfig({ ...extra, ports: [tty] }, "/etc/sysrq-bridge").ports[0];
      return port?.transport.kind === "tty" ? port.transport.lockDir : undefined;
    };
    assert.equal(lockDirOf({}), "/var/lock");
    assert.equal(lockDirOf({ lockDir: "./locks" }), "/etc/sysrq-bridge/locks");
    assert.equal(lockDirOf({ lockDir: false }), null);
    assert.match(errorOf({ ...base, lockDir: true }), /lockDir/);
  });

  it("does not treat a device that does not exist yet as an error", () => {
    assert.doesNotThrow(() =>
      resolveConfig({ ports: [{ id: "u0", transport: { kind: "tty", path: "/dev/ttyUSB99" } }] }, "/"),
    );
  });
});

describe("config: security", () => {
  const token = (extra: object) => ({ name: "rig-7", role: "operate", ...extra });
  const hex = "a".repeat(64);

  it("refuses a non-loopback listener without tokens, and allows it with one", () => {
    assert.match(errorOf({ ...base, listen: { host: "0.0.0.0" } }), /^listen\.host: 0\.0\.0\.0 is reachable/);
    assert.match(errorOf({ ...base, listen: { host: "192.168.1.5" } }), /auth\.tokens is empty/);
    for (const host of ["127.0.0.1", "127.0.1.1", "::1", "localhost"]) {
      assert.equal(errorOf({ ...base, listen: { host } }), "no error", host);
    }
    const config = resolveConfig(
      { ...base, listen: { host: "0.0.0.0" }, auth: { tokens: [token({ sha256: hex })] } },
      "/",
    );
    assert.equal(config.listen.host, "0.0.0.0");
    assert.deepEqual(config.auth.tokens[0]?.sha256, Buffer.from(hex, "hex"));
  });

  it("takes SSH keys as a token's only credential or beside a secret, and refuses broken ones", () => {
    const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.alloc(36, 7)]);
    const line = `ssh-ed25519 ${blob.toString("base64")} alice@laptop`;
    const config = resolveConfig(
      {
        ...base,
        ssh: { host: "0.0.0.0", port: 2222 },
        auth: { tokens: [token({ sshKeys: [line] }), { name: "b", role: "read", sha256: hex, sshKeys: [] }] },
      },
      "/srv",
    );
    assert.equal(config.auth.tokens[0]?.sha256, null, "a keys-only token has no digest");
    assert.deepEqual(config.auth.tokens[0]?.sshKeys, [{ type: "ssh-ed25519", blob }]);
    assert.equal(config.ssh?.hostKeyFile, path.resolve("/srv", "./var/capture", "ssh_host_ed25519_key"));
    const auth = (...tokens: object[]) => errorOf({ ...base, auth: { tokens } });
    assert.match(
      auth(token({ sshKeys: ["ssh-ed25519 AAAA"] })),
      /^auth\.tokens\.0\.sshKeys\.0: the key data/,
    );
    assert.match(auth(token({ sshKeys: ["hello"] })), /^auth\.tokens\.0\.sshKeys\.0: not an SSH public key/);
    assert.match(
      auth(token({ sshKeys: [line] }), { name: "c", role: "read", sshKeys: [line] }),
      /^auth\.tokens\.1: an SSH key of an earlier token/,
    );
    assert.match(
      errorOf({ ...base, ssh: { host: "0.0.0.0", port: 2222 }, auth: { tokens: [token({ sha256: hex })] } }),
      /^ssh\.host: 0\.0\.0\.0 is reachable .* no auth\.tokens entry has sshKeys/,
    );
    assert.equal(errorOf({ ...base, ssh: { port: 2222 } }), "no error", "loopback needs no keys");
  });

  it("names the exact key of a broken token", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-config-"));
    const auth = (...tokens: object[]) => errorOf({ ...base, auth: { tokens } });
    assert.match(
      auth(token({ sha256: hex }), { name: "alice", role: "admin", file: path.join(dir, "missing") }),
      /^auth\.tokens\.1\.file: cannot read .*missing: ENOENT/,
    );
    assert.match(auth(token({})), /^auth\.tokens\.0: give one of sha256, file or env, or sshKeys/);
    assert.match(auth(token({ sha256: hex, env: "X" })), /^auth\.tokens\.0: give at most one/);
    assert.match(auth(token({ env: "SYSRQ_BRIDGE_SURELY_UNSET" })), /^auth\.tokens\.0\.env: .* is not set/);
    assert.match(auth(token({ sha256: "abc" })), /^auth\.tokens\.0\.sha256: /);
    assert.match(
      auth(token({ sha256: hex, ports: ["vm9"] })),
      /^auth\.tokens\.0\.ports: no port with id "vm9"/,
    );
    assert.match(auth(token({ sha256: hex, secret: "x" })), /^auth\.tokens\.0\.secret: unknown key/);
    assert.match(auth(token({ sha256: hex, role: "root" })), /^auth\.tokens\.0\.role: /);
    assert.match(
      auth(token({ sha256: hex }), token({ sha256: "b".repeat(64) })),
      /^auth\.tokens\.1\.name: duplicate token name "rig-7"/,
    );
    const shortFile = path.join(dir, "short");
    await writeFile(shortFile, "abc\n");
    assert.match(
      auth(token({ file: shortFile })),
      /^auth\.tokens\.0: a token must be at least 16 characters/,
    );
    assert.match(
      errorOf({ ...base, listen: { tls: { cert: "/nonexistent.pem", key: "/k" } } }),
      /^listen\.tls\.cert: /,
    );
    assert.match(errorOf({ ...base, audit: { fsync: "never" } }), /^audit\.fsync: /);
  });
});

describe("KINDS_BY_KEY", () => {
  it("names every discriminated key of the schema with exactly the kinds it takes", () => {
    const found: Record<string, string[]> = {};
    const walk = (node: unknown, key: string): void => {
      if (Array.isArray(node)) return node.forEach((item) => walk(item, key));
      if (typeof node !== "object" || node === null) return;
      const schema = node as {
        discriminator?: unknown;
        oneOf?: { properties: { kind: { const: string } } }[];
      };
      if (schema.discriminator) found[key] = (schema.oneOf ?? []).map((kind) => kind.properties.kind.const);
      for (const [name, child] of Object.entries(node))
        walk(child, name === "items" || name === "properties" ? key : name);
    };
    walk(ConfigSchema, "");
    assert.deepEqual(found, KINDS_BY_KEY);
  });
});
