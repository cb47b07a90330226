/**
 * The RFC 2217 re-export of a tty port (a socat pty pair), with pyserial as the client and strace on
 * the daemon's own process: pyserial's send_break() and break_condition reach the device as
 * TIOCSBRK ... TIOCCBRK held as long as pyserial asked (a pty takes both ioctls and ignores them, as
 * under ser2net), its baud rate, DTR and RTS are echoed but never reach the device unless the port
 * sets allowLineControl, and the client's bytes reach the far end exactly.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { RawClient, requirePyserial, runPyserial } from "../helpers/export-clients.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat", "strace") || requirePyserial();

describe("RFC 2217 re-export of a tty port", { skip, timeout: 60_000 }, () => {
  let pair: PtyPair;
  let daemon: Daemon & { captureDir: string };
  let target: TargetSide;
  let strace: ChildProcess;
  let trace: string;
  let target1: TargetSide;
  let pair1: PtyPair;

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-reexport-tty-"));
    pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
    pair1 = await startPtyPair(path.join(dir, "device1"), path.join(dir, "target1"));
    target = new TargetSide(pair.targetSide);
    target1 = new TargetSide(pair1.targetSide);
    daemon = await startTestDaemon({
      ports: [
        {
          id: "pty0",
          // DTR and RTS low: a TIOCMSET carrying them high could only come from pyserial's requests.
          transport: { kind: "tty", path: pair.daemonSide, baudRate: 115200, dtr: false, rts: false },
          export: {
            rfc2217: { host: "127.0.0.1", port: 0 },
            telnet: { path: path.join(dir, "pty0.telnet") },
          },
        },
        {
          id: "pty1",
          transport: { kind: "tty", path: pair1.daemonSide, baudRate: 115200, dtr: false },
          allowLineControl: true,
          export: { rfc2217: { host: "127.0.0.1", port: 0 } },
        },
      ],
    });
    await waitUntil(
      () => daemon.ports.list().every((p) => p.info().state === "open"),
      5000,
      "pty ports open",
    );
    // Traced from here on: whatever the daemon does to the device because of the client.
    trace = path.join(dir, "strace.log");
    strace = spawn("strace", ["-f", "-tt", "-e", "trace=ioctl", "-o", trace, "-p", String(process.pid)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let attached = "";
    strace.stderr?.on("data", (chunk: Buffer) => (attached += chunk.toString()));
    await waitUntil(() => /attached/.test(attached), 5000, "strace attached");
  });
  after(async () => {
    strace?.kill("SIGINT");
    await daemon?.close();
    target?.close();
    target1?.close();
    await pair?.stop();
    await pair1?.stop();
  });

  it("send_break() and break_condition reach the device as held TIOCSBRK/TIOCCBRK; line settings are echoed, not applied", async () => {
    const port = daemon.exports.address("pty0", "rfc2217") as number;
    const result = await runPyserial(`rfc2217://127.0.0.1:${port}`, [
      "send_break",
      "write:h",
      "break_on",
      "sleep:0.4",
      "break_off",
      "write:h\xff",
    ]);
    assert.ok(result.openSeconds < 1, `opened in ${result.openSeconds.toFixed(3)} s`);
    for (const step of result.steps) assert.ok(step.ok, JSON.stringify(step));
    await waitUntil(() => target.bytes.length >= 3, 3000, "bytes at the device");
    assert.deepEqual(
      [...target.bytes],
      [0x68, 0x68, 0xff],
      "h, h and a 0xFF (doubled on the wire), nothing else",
    );
    await waitUntil(
      async () => ((await readFile(trace, "utf8")).match(/TIOCCBRK/g) ?? []).length >= 2,
      3000,
      "the BREAKs traced",
    );
    const ioctls = (await readFile(trace, "utf8")).split("\n");
    const breaks = ioctls.filter((l) => /TIOCSBRK|TIOCCBRK/.test(l));
    assert.deepEqual(
      breaks.map((l) => /TIOC[SC]BRK\)\s+= 0/.exec(l)?.[0].slice(0, 8)),
      ["TIOCSBRK", "TIOCCBRK", "TIOCSBRK", "TIOCCBRK"],
      breaks.join("\n"),
    );
    // Each BREAK lasted as long as pyserial held it: 0.25 s for send_break(), 0.4 s for break_condition.
    const at = (line: string | undefined): number => {
      const [h, m, sec] = (line ?? "").split(/\s+/)[1]?.split(":").map(Number) ?? [];
      return ((h ?? 0) * 3600 + (m ?? 0) * 60 + (sec ?? 0)) * 1000;
    };
    const held = [at(breaks[1]) - at(breaks[0]), at(breaks[3]) - at(breaks[2])];
    assert.ok(held[0]! >= 200 && held[0]! < 1000, `send_break held ${held[0]} ms`);
    assert.ok(held[1]! >= 350 && held[1]! < 1200, `break_condition held ${held[1]} ms`);
    // No baud or framing change (TCSETS); the modem lines, where set() tried them (TIOCMSET, which a
    // pty refuses), carry the configured levels (both low), never pyserial's DTR/RTS on. The other
    // bits are whatever serialport's native set() had in an int its failed TIOCMGET left unset (on a
    // pty it is usually 0, not always), so only DTR and RTS are checked.
    assert.deepEqual(
      ioctls.filter((l) => /TCSETS/.test(l)),
      [],
      "no line setting reached the device",
    );
    const modem = ioctls.filter((l) => /TIOCMSET|TIOCMBIS|TIOCMBIC/.test(l));
    assert.ok(
      modem.length > 0 && modem.every((l) => /TIOCMSET, \[/.test(l) && !/TIOCM_(DTR|RTS)/.test(l)),
      modem.join("\n"),
    );
    const audit = (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const baud = audit.find((r) => r["action"] === "line-control" && r["port"] === "pty0");
    assert.deepEqual([baud?.["setting"], baud?.["value"], baud?.["applied"]], ["baudrate", 9600, false]);
    const info = daemon.ports.get("pty0").info();
    assert.equal(info.line?.baudRate, 115_200, "GET /ports/pty0 shows the device's real baud rate");
    assert.equal(info.capabilities.break.available, false, "SysRq over the API still refuses a pty");
  });

  it("with allowLineControl, pyserial's 9600 baud reaches the device (TCSETS) and GET /ports shows it", async () => {
    const from = (await readFile(trace, "utf8")).length;
    const port = daemon.exports.address("pty1", "rfc2217") as number;
    const result = await runPyserial(`rfc2217://127.0.0.1:${port}`, ["write:ok"]);
    assert.ok(result.steps[0]?.ok, JSON.stringify(result.steps));
    await waitUntil(() => target1.bytes.length >= 2, 3000, "bytes at the device");
    await waitUntil(
      async () => /B9600/.test((await readFile(trace, "utf8")).slice(from)),
      3000,
      "the baud change traced",
    );
    const line = daemon.ports.get("pty1").info().line;
    assert.equal(line?.baudRate, 9600);
    assert.equal(line?.source, "device");
    const audit = (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r["action"] === "line-control" && r["port"] === "pty1");
    const of = (setting: string) => audit.find((r) => r["setting"] === setting);
    assert.equal(of("baudrate")?.["applied"], true);
    // pyserial raises DTR; configured low, and a pty has no modem lines: echoed, not applied, and why.
    assert.equal(of("dtr")?.["applied"], false);
    assert.match(String(of("dtr")?.["reason"]), /no modem lines/);
    assert.equal(of("rts")?.["applied"], true, "RTS high was already in effect");
  });

  it("a telnet client on the unix socket (mode 0600) types; CR LF and CR NUL reach the device as CR", async () => {
    const socketPath = daemon.exports.address("pty0", "telnet") as string;
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
    await waitUntil(() => daemon.ports.get("pty0").lease.current === null, 3000, "pyserial's lease released");
    const client = await RawClient.connect(socketPath);
    try {
      await client.waitFor(/you hold the writer lease/, 5000);
      const before = target.bytes.length;
      client.socket.write("ls\r\nid\r\0x\r");
      await waitUntil(() => target.bytes.length >= before + 7, 3000, "typed bytes at the device");
      assert.equal(target.bytes.subarray(before).toString("latin1"), "ls\rid\rx\r");
      target.write(Buffer.from([0x41, 0xff, 0x42]));
      await client.waitFor(/A\xff\xffB/, 3000);
    } finally {
      await client.close();
    }
  });
});
