/**
 * RFC 2217 re-export of a tty port over a fake tty wire (the real ioctls are proven in
 * test/e2e/reexport-tty.test.ts): BREAK-ON ... BREAK-OFF holds the line in BREAK for as long as the
 * client says, input sent meanwhile waits, the arm starts when the BREAK ends and its key goes through
 * the key guard, a client that leaves or forgets BREAK-OFF releases it; line settings are applied only
 * with allowLineControl and by the lease holder, echoed and audited either way, and shown in GET.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import type { TransportConfig } from "../../src/config/types.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { MAX_BREAK_HOLD_MS } from "../../src/ports/break-wire.js";
import type {
  BreakCapability,
  LineChange,
  LineControl,
  SerialLine,
  Transport,
  TransportSink,
} from "../../src/transports/transport.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { RawClient } from "../helpers/export-clients.js";

type Op =
  | { op: "break"; on: boolean; at: number }
  | { op: "write"; bytes: string; at: number }
  | { op: "line"; change: LineChange; at: number };

/** A tty as the layers above see one: a held BREAK, a line that applies baud and DTR/RTS only. */
class FakeTty implements Transport {
  readonly kind = "tty" as const;
  readonly target = "fake-tty";
  private sink: TransportSink | null = null;
  private settings: SerialLine;
  readonly line: LineControl;

  constructor(
    private readonly ops: Op[],
    config: TransportConfig,
  ) {
    if (config.kind !== "tty") throw new Error("a tty config expected");
    this.settings = {
      baudRate: config.baudRate,
      dataBits: config.dataBits,
      parity: config.parity,
      stopBits: config.stopBits,
      flowControl: "none",
      dtr: config.dtr,
      rts: config.rts,
    };
    this.line = {
      current: () => this.settings,
      apply: (change) => {
        if (change.setting === "baudrate") this.settings = { ...this.settings, baudRate: change.baudRate };
        else if (change.setting === "dtr" || change.setting === "rts")
          this.settings = { ...this.settings, [change.setting]: change.on };
        else if (change.setting === "datasize" && change.dataBits !== this.settings.dataBits)
          return Promise.reject(new Error("cannot change the data size of an open port"));
        this.ops.push({ op: "line", change, at: Date.now() });
        return Promise.resolve();
      },
    };
  }

  open(sink: TransportSink): Promise<void> {
    this.sink = sink;
    return Promise.resolve();
  }
  write(data: Uint8Array): Promise<void> {
    this.ops.push({ op: "write", bytes: Buffer.from(data).toString("latin1"), at: Date.now() });
    return Promise.resolve();
  }
  async sendBreak(holdMs: number): Promise<void> {
    await this.setBreak(true);
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    await this.setBreak(false);
  }
  setBreak(on: boolean): Promise<void> {
    this.ops.push({ op: "break", on, at: Date.now() });
    return Promise.resolve();
  }
  breakCapability(): BreakCapability {
    return { available: true, method: "tty-ioctl" };
  }
  close(): Promise<void> {
    this.sink?.closed({ disconnected: false });
    this.sink = null;
    return Promise.resolve();
  }
}

const IAC = 0xff;
const sb = (command: number, ...value: number[]): Buffer =>
  Buffer.from([IAC, 0xfa, 44, command, ...value, IAC, 0xf0]);
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");
const TOKEN = "rig-token-0123456789";

describe("RFC 2217 re-export of a tty: held BREAK and line control", { timeout: 30_000 }, () => {
  const ops: Op[] = [];
  let daemon: Daemon & { captureDir: string };

  const tty = (id: string, extra: object = {}) => ({
    id,
    transport: { kind: "tty", path: `/dev/fake-${id}`, dtr: false, rts: false },
    export: { rfc2217: { host: "127.0.0.1", port: 0, as: "rig" } },
    ...extra,
  });
  const connect = async (id: string): Promise<RawClient> => {
    const client = await RawClient.connect(daemon.exports.address(id, "rfc2217") as number);
    client.socket.write(Buffer.from([IAC, 0xfb, 44])); // WILL COM-PORT-OPTION
    await client.waitFor(/\xff\xfd,/, 2000); // DO COM-PORT-OPTION
    return client;
  };
  const sendAndWait = async (client: RawClient, request: Buffer, answer: Buffer): Promise<number> => {
    const from = client.bytes.length;
    const sent = Date.now();
    client.socket.write(request);
    await waitUntil(
      () => client.bytes.subarray(from).includes(answer),
      3000,
      `answer ${answer.toString("hex")}`,
    );
    return Date.now() - sent;
  };
  const audit = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const getPort = (url: string) =>
    daemon.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${TOKEN}` } });
  const leaseFree = (id: string): Promise<void> =>
    waitUntil(() => daemon.ports.get(id).lease.current === null, 3000, "lease released");

  before(async () => {
    daemon = await startTestDaemon({
      ports: [tty("tty0", { allowLineControl: true }), tty("tty1")],
      createTransport: (config) => new FakeTty(ops, config),
      config: {
        auth: { tokens: [{ name: "rig", role: "operate", sha256: sha256(TOKEN) }] },
      },
    });
    await waitUntil(() => daemon.ports.list().every((p) => p.info().state === "open"), 2000, "ports open");
  });
  after(() => daemon.close());
  beforeEach(() => {
    ops.length = 0;
  });

  it("holds the BREAK from BREAK-ON to BREAK-OFF; input sent meanwhile waits; the key after it is guarded", async () => {
    const client = await connect("tty0");
    try {
      await sendAndWait(client, sb(5, 5), sb(105, 5));
      assert.deepEqual(
        ops.map((o) => o.op === "break" && o.on),
        [true],
        "the line is in BREAK once BREAK-ON is answered",
      );
      client.socket.write("h"); // typed during the BREAK: goes out after it ends, as the SysRq key
      const status = await getPort("/ports/tty0");
      assert.equal(status.statusCode, 200, "GET does not wait for the port's queue");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(ops.length, 1, "nothing else reached the wire while the BREAK was held");
      await sendAndWait(client, sb(5, 6), sb(105, 6));
      await waitUntil(() => ops.some((o) => o.op === "write"), 2000, "the key written");
      const [on, off, key] = ops;
      assert.deepEqual([on?.op, off?.op, key?.op], ["break", "break", "write"]);
      assert.ok(
        off && on && off.op === "break" && !off.on && off.at - on.at >= 300,
        "held about as long as asked",
      );
      assert.equal(key?.op === "write" && key.bytes, "h");
      // `b` needs the admin role: after the held BREAK, the rig (operate) client's `b` never runs.
      ops.length = 0;
      await sendAndWait(client, sb(5, 5), sb(105, 5));
      await sendAndWait(client, sb(5, 6), sb(105, 6));
      client.socket.write("b");
      await waitUntil(() => ops.length >= 3, 2000, "the cancel BREAK");
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok(
        ops.every((o) => o.op === "break"),
        `b never reached the wire; a second BREAK cancelled the arm: ${JSON.stringify(ops)}`,
      );
      const breaks = (await audit()).filter((r) => r["action"] === "console-break" && r["via"] === "rfc2217");
      assert.ok(breaks.length >= 2);
      assert.equal(breaks[0]?.["held"], true);
      assert.equal(breaks[0]?.["capped"], false);
      assert.ok((breaks[0]?.["heldMs"] as number) >= 300);
    } finally {
      await client.close();
    }
    await leaseFree("tty0");
  });

  it("releases a held BREAK when its client disconnects, and after MAX_BREAK_HOLD_MS without BREAK-OFF", async () => {
    const leaving = await connect("tty0");
    await sendAndWait(leaving, sb(5, 5), sb(105, 5));
    const closedAt = Date.now();
    await leaving.close();
    await waitUntil(() => ops.some((o) => o.op === "break" && !o.on), 2000, "BREAK released");
    const off = ops.find((o) => o.op === "break" && !o.on);
    assert.ok(off && off.at - closedAt < 500, "released at the disconnect");
    await leaseFree("tty0");

    ops.length = 0;
    const forgetful = await connect("tty0");
    try {
      await sendAndWait(forgetful, sb(5, 5), sb(105, 5));
      await waitUntil(() => ops.some((o) => o.op === "break" && !o.on), MAX_BREAK_HOLD_MS + 2000, "capped");
      const [on, off2] = ops;
      const held = (off2?.at ?? 0) - (on?.at ?? 0);
      assert.ok(held >= MAX_BREAK_HOLD_MS - 50 && held < MAX_BREAK_HOLD_MS + 500, `held ${held} ms`);
      // A late BREAK-OFF is answered at once: the line is already out of BREAK.
      assert.ok((await sendAndWait(forgetful, sb(5, 6), sb(105, 6))) < 500);
      const last = (await audit()).filter((r) => r["action"] === "console-break").at(-1);
      assert.equal(last?.["capped"], true);
    } finally {
      await forgetful.close();
    }
    await leaseFree("tty0");
  });

  it("applies baud and DTR/RTS with allowLineControl, echoes every request, audits what was not applied", async () => {
    const client = await connect("tty0");
    try {
      await sendAndWait(client, sb(1, 0, 0, 0x25, 0x80), sb(101, 0, 0, 0x25, 0x80)); // 9600
      await sendAndWait(client, sb(5, 8), sb(105, 8)); // DTR on
      await sendAndWait(client, sb(2, 7), sb(102, 7)); // 7 data bits: echoed, cannot be applied
      const line = (await getPort("/ports/tty0")).json<{
        line: Record<string, unknown>;
      }>().line;
      assert.deepEqual(line, {
        baudRate: 9600,
        dataBits: 8,
        parity: "none",
        stopBits: 1,
        flowControl: "none",
        dtr: true,
        rts: false,
        source: "device",
        allowLineControl: true,
      });
      // A query answers what is in effect.
      await sendAndWait(client, sb(1, 0, 0, 0, 0), sb(101, 0, 0, 0x25, 0x80));
    } finally {
      await client.close();
    }
    const records = (await audit()).filter((r) => r["action"] === "line-control" && r["port"] === "tty0");
    assert.deepEqual(
      records.slice(-3).map((r) => [r["setting"], r["value"], r["applied"]]),
      [
        ["baudrate", 9600, true],
        ["dtr", 8, true],
        ["datasize", 7, false],
      ],
    );
    assert.match(String(records.at(-1)?.["reason"]), /data size/);
    await leaseFree("tty0");
  });

  it("without allowLineControl, or from a client without the lease, echoes and applies nothing", async () => {
    const client = await connect("tty1");
    try {
      await sendAndWait(client, sb(1, 0, 0, 0x25, 0x80), sb(101, 0, 0, 0x25, 0x80));
      await sendAndWait(client, sb(5, 11), sb(105, 11));
    } finally {
      await client.close();
    }
    await leaseFree("tty1");
    const writer = await connect("tty0");
    await waitUntil(() => daemon.ports.get("tty0").lease.current !== null, 2000, "writer holds the lease");
    const reader = await connect("tty0");
    try {
      await sendAndWait(reader, sb(1, 0, 1, 0xc2, 0), sb(101, 0, 1, 0xc2, 0)); // 115200, from the reader
    } finally {
      await reader.close();
      await writer.close();
    }
    assert.deepEqual(
      ops.filter((o) => o.op === "line"),
      [],
      "no line setting reached a device",
    );
    const info = (await getPort("/ports/tty1")).json<{
      line: Record<string, unknown>;
    }>();
    assert.equal(info.line["baudRate"], 115_200);
    assert.equal(info.line["allowLineControl"], false);
    const records = (await audit()).filter((r) => r["action"] === "line-control").slice(-3);
    assert.deepEqual(
      records.map((r) => [r["port"], r["setting"], r["applied"], r["reason"]]),
      [
        ["tty1", "baudrate", false, "allowLineControl is off for port tty1"],
        ["tty1", "rts", false, "allowLineControl is off for port tty1"],
        ["tty0", "baudrate", false, "this client does not hold the writer lease"],
      ],
    );
  });
});
