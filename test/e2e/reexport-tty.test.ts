/**
 * The RFC 2217 re-export of a tty port (a socat pty pair), with pyserial as the client and strace on
 * the daemon's own process: pyserial's baud rate, DTR and RTS are echoed but never reach the device,
 * a BREAK the device cannot carry (a pty) is refused as pyserial understands it (BREAK-OFF answered to
 * BREAK-ON: no TIOCSBRK), and the client's bytes reach the far end exactly.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { RawClient, requirePyserial, runPyserial } from "../helpers/export-clients.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat", "strace") || requirePyserial();

describe("RFC 2217 re-export of a tty port", { skip, timeout: 60_000 }, () => {
  let pair: PtyPair;
  let daemon: Daemon;
  let target: TargetSide;
  let strace: ChildProcess;
  let trace: string;

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-reexport-tty-"));
    pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
    target = new TargetSide(pair.targetSide);
    daemon = await startTestDaemon({
      ports: [
        {
          id: "pty0",
          transport: { kind: "tty", path: pair.daemonSide, baudRate: 115200 },
          export: {
            rfc2217: { host: "127.0.0.1", port: 0 },
            telnet: { path: path.join(dir, "pty0.telnet") },
          },
        },
      ],
    });
    await waitUntil(() => daemon.ports.get("pty0").info().state === "open", 5000, "pty port open");
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
    await pair?.stop();
  });

  it("echoes line settings without applying them, refuses the BREAK a pty cannot carry, passes bytes", async () => {
    const port = daemon.exports.address("pty0", "rfc2217") as number;
    const result = await runPyserial(`rfc2217://127.0.0.1:${port}`, ["send_break", "write:h\xff"]);
    assert.ok(result.openSeconds < 1, `opened in ${result.openSeconds.toFixed(3)} s`);
    const [breakStep, writeStep] = result.steps;
    assert.match(breakStep?.error ?? "", /rejected value for option 'control'/, JSON.stringify(breakStep));
    assert.ok(writeStep?.ok, JSON.stringify(writeStep));
    await waitUntil(() => target.bytes.length >= 2, 3000, "bytes at the device");
    assert.deepEqual([...target.bytes], [0x68, 0xff], "h and a 0xFF (doubled on the wire), nothing else");
    // tcdrain after the write is an ioctl too (TCSBRK 1): it proves the tracer saw the serial thread.
    await waitUntil(async () => /TCSBRK/.test(await readFile(trace, "utf8")), 3000, "drain traced");
    const ioctls = (await readFile(trace, "utf8")).split("\n");
    const touched = ioctls.filter((l) => /TIOCSBRK|TIOCCBRK|TCSETS|TIOCMSET|TIOCMBIS|TIOCMBIC/.test(l));
    assert.deepEqual(touched, [], "no BREAK, no line setting, no modem line reached the device");
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
