/** The re-export's pure parts: its config rules, the RFC 2217 answers and the telnet newline filter. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveConfig } from "../../../src/config/load.js";
import { ComPortState } from "../../../src/export/com-port-state.js";
import { NewlineFilter } from "../../../src/telnet/newline.js";
import { modemStateMessage } from "../../../src/telnet/rfc2217.js";

const HEX = "a".repeat(64);
const vm0 = { id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } };

function withExport(exportBlock: object, extra: object = {}): unknown {
  return { ports: [{ ...vm0, export: exportBlock }], ...extra };
}

function errorOf(document: unknown): string {
  try {
    resolveConfig(document, "/etc/sysrq-bridge");
  } catch (err) {
    return (err as Error).message;
  }
  return "(no error)";
}

describe("export config", () => {
  it("refuses a listener other machines can reach unless allowUnauthenticated is set, naming the key", () => {
    const message = errorOf(withExport({ telnet: { host: "0.0.0.0", port: 7000 } }));
    assert.match(message, /^ports\.0\.export\.telnet\.host: 0\.0\.0\.0 is reachable/);
    assert.match(message, /ports\.0\.export\.telnet\.allowUnauthenticated: true/);
    const config = resolveConfig(
      withExport({ telnet: { host: "0.0.0.0", port: 7000, allowUnauthenticated: true } }),
      "/",
    );
    assert.deepEqual(config.ports[0]?.export?.telnet?.endpoint, { host: "0.0.0.0", port: 7000 });
  });

  it("notices: on for telnet and off for rfc2217 unless the listener says", () => {
    const byDefault = resolveConfig(withExport({ telnet: { port: 7000 }, rfc2217: { port: 7100 } }), "/");
    assert.equal(byDefault.ports[0]?.export?.telnet?.notices, true);
    assert.equal(byDefault.ports[0]?.export?.rfc2217?.notices, false);
    const set = resolveConfig(
      withExport({ telnet: { port: 7000, notices: false }, rfc2217: { port: 7100, notices: true } }),
      "/",
    );
    assert.equal(set.ports[0]?.export?.telnet?.notices, false);
    assert.equal(set.ports[0]?.export?.rfc2217?.notices, true);
  });

  it("takes loopback and unix sockets (relative to the config file), mode rw by default, open mode as anonymous", () => {
    const config = resolveConfig(
      withExport({ telnet: { path: "run/vm0.telnet" }, rfc2217: { host: "::1", port: 7100, mode: "ro" } }),
      "/etc/sysrq-bridge",
    );
    const exports = config.ports[0]?.export;
    assert.deepEqual(exports?.telnet?.endpoint, { path: "/etc/sysrq-bridge/run/vm0.telnet" });
    assert.equal(exports?.telnet?.mode, "rw");
    assert.equal(exports?.rfc2217?.mode, "ro");
    assert.deepEqual(exports?.rfc2217?.actsAs, { name: "anonymous", role: "admin", ports: null });
  });

  it("acts as a named token: its role and ports; an unknown or missing name is an error naming the key", () => {
    const auth = {
      auth: {
        tokens: [
          { name: "rig-7", role: "operate", sha256: HEX },
          { name: "other", role: "admin", sha256: "b".repeat(64), ports: ["vm1"] },
        ],
      },
    };
    const ports = [vm0, { id: "vm1", transport: { kind: "telnet", host: "127.0.0.1", port: 4556 } }];
    const doc = (exportBlock: object): unknown => ({
      ...auth,
      ports: [{ ...vm0, export: exportBlock }, ports[1]],
    });
    const config = resolveConfig(doc({ rfc2217: { port: 7100, as: "rig-7" } }), "/");
    assert.equal(config.ports[0]?.export?.rfc2217?.actsAs.role, "operate");
    assert.match(
      errorOf(doc({ rfc2217: { port: 7100, as: "nobody" } })),
      /^ports\.0\.export\.rfc2217\.as: no token named "nobody" in auth\.tokens \(known: rig-7, other\)/,
    );
    assert.match(errorOf(doc({ telnet: { port: 7000 } })), /^ports\.0\.export\.telnet\.as: is required/);
    assert.match(errorOf(doc({ telnet: { port: 7000, as: "other" } })), /may not use port vm0/);
    assert.match(
      errorOf(withExport({ telnet: { port: 7000, as: "rig-7" } })),
      /no auth\.tokens are configured/,
    );
  });

  it("allowLineControl is off by default and applies to tty ports only", () => {
    const tty = { id: "tty0", transport: { kind: "tty", path: "/dev/ttyS0" } };
    assert.equal(resolveConfig({ ports: [tty] }, "/").ports[0]?.allowLineControl, false);
    assert.equal(
      resolveConfig({ ports: [{ ...tty, allowLineControl: true }] }, "/").ports[0]?.allowLineControl,
      true,
    );
    assert.match(
      errorOf({ ports: [{ ...vm0, allowLineControl: true }] }),
      /^ports\.0\.allowLineControl: applies to tty ports only/,
    );
  });

  it("refuses both a path and a host, and unknown keys", () => {
    assert.match(
      errorOf(withExport({ telnet: { path: "/run/x", port: 7000 } })),
      /give either path, or host/,
    );
    assert.match(errorOf(withExport({ ssh: { port: 22 } })), /ports\.0\.export\.ssh: unknown key/);
  });
});

/** IAC SB 44 <cmd> <value> IAC SE */
function sb(command: number, ...value: number[]): Buffer {
  return Buffer.from([0xff, 0xfa, 44, command, ...value, 0xff, 0xf0]);
}

describe("RFC 2217 server answers", () => {
  const tty = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 } as const;

  it("echoes each line setting as asked and hands it to the port decoded, with the raw value for the audit", () => {
    const state = new ComPortState(() => tty, "test");
    const baud9600 = Buffer.from([0, 0, 0x25, 0x80]);
    assert.deepEqual(state.handle(1, baud9600), {
      kind: "line",
      reply: sb(101, 0, 0, 0x25, 0x80),
      value: 9600,
      change: { setting: "baudrate", baudRate: 9600 },
    });
    const cases: [number, number, object][] = [
      [2, 7, { setting: "datasize", dataBits: 7 }],
      [3, 3, { setting: "parity", parity: "even" }],
      [3, 9, { setting: "parity", parity: "unknown" }],
      [4, 3, { setting: "stopsize", stopBits: 1.5 }],
      [5, 8, { setting: "dtr", on: true }],
      [5, 9, { setting: "dtr", on: false }],
      [5, 11, { setting: "rts", on: true }],
      [5, 12, { setting: "rts", on: false }],
      [5, 1, { setting: "outbound flow", flow: "none" }],
      [5, 3, { setting: "outbound flow", flow: "rtscts" }],
      [5, 19, { setting: "outbound flow", flow: "other" }],
      [5, 15, { setting: "inbound flow", flow: "xonxoff" }],
    ];
    for (const [command, value, change] of cases) {
      assert.deepEqual(
        state.handle(command, Buffer.from([value])),
        { kind: "line", reply: sb(command + 100, value), value, change },
        `command ${command} value ${value}`,
      );
    }
  });

  it("answers a request for the current value with the port's real setting, as it is now", () => {
    let line: typeof tty | { baudRate: number; dataBits: 7; parity: "even"; stopBits: 2 } = tty;
    const state = new ComPortState(() => line, "test");
    assert.deepEqual(state.handle(1, Buffer.from([0, 0, 0, 0])), {
      kind: "reply",
      reply: sb(101, 0, 1, 0xc2, 0),
    });
    assert.deepEqual(state.handle(2, Buffer.from([0])), { kind: "reply", reply: sb(102, 8) });
    assert.deepEqual(state.handle(4, Buffer.from([0])), { kind: "reply", reply: sb(104, 1) });
    assert.deepEqual(state.handle(5, Buffer.from([4])), { kind: "reply", reply: sb(105, 6) });
    assert.deepEqual(state.handle(5, Buffer.from([0])), { kind: "reply", reply: sb(105, 1) });
    line = { baudRate: 9600, dataBits: 7, parity: "even", stopBits: 2 };
    assert.deepEqual(state.handle(1, Buffer.from([0, 0, 0, 0])), {
      kind: "reply",
      reply: sb(101, 0, 0, 0x25, 0x80),
    });
    assert.deepEqual(state.handle(3, Buffer.from([0])), { kind: "reply", reply: sb(103, 3) });
    assert.deepEqual(state.handle(4, Buffer.from([0])), { kind: "reply", reply: sb(104, 2) });
  });

  it("hands BREAK-ON and BREAK-OFF to the port and answers with the line's state; PURGE-DATA echoes", () => {
    const state = new ComPortState(() => null, "test");
    assert.deepEqual(state.handle(5, Buffer.from([5])), { kind: "break-on" });
    assert.deepEqual(state.breakAnswer(false), sb(105, 6));
    assert.deepEqual(state.breakAnswer(true), sb(105, 5));
    assert.deepEqual(state.handle(5, Buffer.from([4])), { kind: "reply", reply: sb(105, 5) });
    assert.deepEqual(state.handle(5, Buffer.from([6])), { kind: "break-off" });
    assert.deepEqual(state.breakAnswer(false), sb(105, 6));
    assert.deepEqual(state.handle(5, Buffer.from([4])), { kind: "reply", reply: sb(105, 6) });
    assert.deepEqual(state.handle(12, Buffer.from([3])), { kind: "reply", reply: sb(112, 3) });
    assert.deepEqual(state.handle(8, Buffer.alloc(0)), { kind: "none" });
  });

  it("answers a NOTIFY-MODEMSTATE poll with the lines: CD 0x80, RI 0x40, DSR 0x20, CTS 0x10", () => {
    assert.deepEqual(new ComPortState(() => null, "test").handle(7, Buffer.alloc(0)), {
      kind: "modem-state",
    });
    assert.deepEqual(modemStateMessage({ cts: true, dsr: true, ri: false, cd: true }), sb(107, 0xb0));
    assert.deepEqual(modemStateMessage({ cts: false, dsr: false, ri: true, cd: false }), sb(107, 0x40));
  });
});

describe("telnet newline filter", () => {
  it("turns CR LF and CR NUL into CR, keeps a bare CR and LF, across chunk boundaries", () => {
    const filter = new NewlineFilter();
    const out = ["ls\r\n", "a\r\0b\r", "\n", "c\r", "d\n\r\r\n"].map((s) =>
      filter.filter(Buffer.from(s, "latin1")),
    );
    assert.equal(Buffer.concat(out).toString("latin1"), "ls\ra\rb\rc\rd\n\r\r");
  });
});
