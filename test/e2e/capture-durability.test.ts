/**
 * Capture durability against a real guest: it prints a numbered stream of STREAM_BYTES_MIN+ bytes
 * holding all 256 byte values (tty in raw mode, so nothing is translated), and the daemon's capture,
 * read back through GET /ports/vm0/capture across rotated segments, is compared byte for byte with
 * QEMU's own logfile= record. Mid-stream the daemon is stopped cleanly and started again on the same
 * captureDir (as a real process), and later that process is killed with SIGKILL and started again.
 *
 *   logfile  |boot...stream.....................................................STREAM-DONE|
 *   capture  |boot...stream.....|  (A, in process) close         |  (B) kill -9  |  (C) ...|
 *                               m1 gap: QEMU had no client       m2 gap: the same, plus what
 *                                                                   B had not written yet
 *
 * The only bytes allowed to be missing are one contiguous span at each restart point, where the
 * daemon marked a gap in its index. Figures (stream rate, the spans, downtime) go to the test log;
 * the spans cannot be split into QEMU's discard and the daemon's own loss (the guest prints faster
 * with no client to push back), so the daemon's share is measured on its own: bytes read but not
 * yet written, and bytes its socket held unread at the kill.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  READY_MARKER,
  freeTcpPort,
  startGuest,
  type Guest,
  MAKE_BLOCK,
  QUIET_CONSOLE,
  RECORD_BYTES,
  describeDivergence,
  expectedStream,
  streamCommand,
} from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { client, type LogBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");

/** The issue asks for at least 5 MB; the emulated UART carries ~130 KB/s under TCG, so ~40 s. */
const STREAM_BYTES_MIN = 5_000_000;
const RECORDS = Math.ceil(STREAM_BYTES_MIN / RECORD_BYTES);
const ROTATE_BYTES = 1024 * 1024;
const READ_CHUNK = 4 * 1024 * 1024;

const bin = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

const STREAM = streamCommand(RECORDS);

interface DaemonProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<void>;
}

async function spawnDaemon(configFile: string, url: string): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [bin, "--config", configFile], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await waitUntil(() => portState(url).then((s) => s === "open"), 15_000, `daemon at ${url} (${stderr})`);
  return { child, url, exited };
}

async function portState(url: string): Promise<string | null> {
  try {
    const res = await fetch(`${url}/ports/vm0`);
    return res.ok ? ((await res.json()) as { state: string }).state : null;
  } catch {
    return null;
  }
}

/** The whole retained capture, read through the API in chunks (it spans several segments). */
async function readCapture(url: string): Promise<{ data: Buffer; start: number }> {
  const chunks: Buffer[] = [];
  let offset = 0;
  let start = -1;
  for (;;) {
    const res = await fetch(`${url}/ports/vm0/capture?offset=${offset}&length=${READ_CHUNK}`);
    assert.equal(res.status, 200, `GET capture at ${offset}`);
    if (start === -1) start = Number(res.headers.get("x-capture-start"));
    const data = Buffer.from(await res.arrayBuffer());
    if (data.length === 0) return { data: Buffer.concat(chunks), start };
    chunks.push(data);
    offset += data.length;
  }
}

async function gapOffsets(captureDir: string): Promise<number[]> {
  const offsets = new Set<number>();
  for (const name of await readdir(captureDir)) {
    if (!name.startsWith("vm0.index.jsonl")) continue;
    for (const line of (await readFile(path.join(captureDir, name), "utf8")).split("\n")) {
      if (line.includes('"gap":true')) offsets.add((JSON.parse(line) as { off: number }).off);
    }
  }
  return [...offsets].sort((a, b) => a - b);
}

/** Index of the first byte where capture[i] != logfile[i + shift], from `from` on. */
function firstMismatch(capture: Buffer, logfile: Buffer, from: number, shift: number): number {
  let lo = from;
  const step = 4096;
  while (lo < capture.length) {
    const hi = Math.min(capture.length, lo + step);
    if (!capture.subarray(lo, hi).equals(logfile.subarray(lo + shift, hi + shift))) {
      for (let i = lo; i < hi; i++) if (capture[i] !== logfile[i + shift]) return i;
    }
    lo = hi;
  }
  return capture.length;
}

/** Where the capture at `at` continues in the logfile: the shift of the next record header. */
function shiftAfter(capture: Buffer, logfile: Buffer, at: number): number {
  const header = capture.indexOf("\n#", at, "latin1");
  assert.ok(header !== -1, `a record header follows offset ${at}`);
  const needle = capture.subarray(header, header + 11);
  const inLog = logfile.indexOf(needle, header);
  assert.ok(inLog !== -1, `record ${needle.toString("latin1")} is in the logfile`);
  return inLog - header;
}

/** Bytes the kernel holds unread for the client connected to QEMU's port (rx_queue, /proc/net/tcp). */
async function unreadAtClient(qemuPort: number): Promise<number> {
  const remote = `0100007F:${qemuPort.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of (await readFile("/proc/net/tcp", "latin1")).split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (cols[2] === remote && cols[3] === "01") return parseInt(cols[4]?.split(":")[1] ?? "0", 16);
  }
  return 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("capture durability against QEMU's logfile", { skip, timeout: 240_000 }, () => {
  it("loses and duplicates nothing while connected, and only QEMU's discard across restarts", async (t) => {
    const began = Date.now();
    const captureDir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-durability-"));
    const telnetPort = await freeTcpPort();
    const httpPort = await freeTcpPort();
    const url = `http://127.0.0.1:${httpPort}`;
    const capture = { rotateBytes: ROTATE_BYTES, maxTotalBytes: 1024 * 1024 * 1024 };
    const configFile = path.join(captureDir, "config.yaml");
    await writeFile(
      configFile,
      `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ${captureDir}\nlog: { level: warn }\n` +
        `capture: { rotateBytes: ${capture.rotateBytes}, maxTotalBytes: ${capture.maxTotalBytes} }\n` +
        `ports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${telnetPort} }\n`,
    );
    const daemonA = await startTestDaemon({
      listen: true,
      captureDir,
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort } }],
      config: { capture },
    });
    let guest: Guest | undefined;
    const processes: DaemonProcess[] = [];
    try {
      guest = await startGuest({ telnetPort, append: QUIET_CONSOLE });
      const api = client(daemonA.url);
      await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
      await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
      await api.post("/ports/vm0/write", { data: MAKE_BLOCK });
      await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=^BLOCK-READY`);
      const streamFrom = (await readFile(guest.logfile)).length;
      const streamStarted = Date.now();
      await api.post("/ports/vm0/write", { data: STREAM });

      // (1) Clean stop a third of the way in, then a real process on the same captureDir.
      const captureA = daemonA.ports.get("vm0").capture;
      await waitUntil(() => captureA.size >= streamFrom + RECORDS * RECORD_BYTES * 0.35, 60_000, "a third");
      const maxUnwrittenA = captureA.stats.maxUnwrittenBytes;
      const stopAt = Date.now();
      await daemonA.close();
      const m1 = captureA.size;
      processes.push(await spawnDaemon(configFile, url));
      const cleanDowntimeMs = Date.now() - stopAt;

      // (2) kill -9 that process two thirds of the way in (by QEMU's record), then start again.
      const logfile = guest.logfile;
      const twoThirds = streamFrom + RECORDS * RECORD_BYTES * 0.7;
      await waitUntil(async () => (await stat(logfile)).size >= twoThirds, 60_000, "two thirds");
      const unreadAtKill = await unreadAtClient(telnetPort);
      const killAt = Date.now();
      processes[0]?.child.kill("SIGKILL");
      await processes[0]?.exited;
      processes.push(await spawnDaemon(configFile, url));
      const killDowntimeMs = Date.now() - killAt;

      const last = client(url);
      await last.get<LogBody>(`/ports/vm0/log?since=0&waitMs=90000&match=^STREAM-DONE`);
      const streamMs = Date.now() - streamStarted;
      await last.get<LogBody>(`/ports/vm0/log?since=0&waitMs=10000&match=${encodeURIComponent("^/ # ")}`);
      await sleep(300);
      const { data: captured, start } = await readCapture(url);
      const log = await readFile(logfile);

      assert.equal(start, 0, "nothing rotated out (maxTotalBytes holds it all)");
      const stream = expectedStream(RECORDS);
      assert.ok(stream.length >= STREAM_BYTES_MIN);
      assert.ok(
        log.indexOf(stream, streamFrom) !== -1,
        `QEMU recorded the whole stream, untranslated: ${describeDivergence(log, streamFrom, stream)}`,
      );

      const gaps = (await gapOffsets(captureDir)).filter((off) => off < captured.length);
      assert.equal(gaps.length, 2, `one gap mark per restart, got ${JSON.stringify(gaps)}`);
      const [gapClean = -1, gapKill = -1] = gaps;
      assert.equal(gapClean, m1, "the clean restart's gap is marked where daemon A stopped");

      // Up to the clean stop: identical. After it, one shift until the kill -9 mark, then another.
      assert.ok(captured.subarray(0, m1).equals(log.subarray(0, m1)), "zero lost or duplicated before m1");
      const shift1 = shiftAfter(captured, log, m1);
      assert.ok(shift1 >= 0, "the clean restart lost bytes, never duplicated them");
      assert.ok(firstMismatch(captured, log, m1, shift1) >= gapKill, "one span missing at the clean restart");
      const shift2 = shiftAfter(captured, log, gapKill);
      assert.ok(shift2 >= shift1, "the kill -9 restart lost bytes, never duplicated them");
      assert.equal(
        firstMismatch(captured, log, gapKill, shift2),
        captured.length,
        "one span at the kill mark",
      );
      assert.equal(captured.length + shift2, log.length, "the capture ends where QEMU's record ends");
      assert.ok(m1 > streamFrom && gapKill + shift2 < streamFrom + stream.length, "both spans mid-stream");

      const rate = (stream.length / streamMs) * 1000;
      const figures = {
        streamBytes: stream.length,
        streamMs,
        uartBytesPerSecond: Math.round(rate),
        cleanRestart: { missingBytes: shift1, downtimeMs: cleanDowntimeMs },
        kill9Restart: { missingBytes: shift2 - shift1, downtimeMs: killDowntimeMs },
        // What the daemon itself risks: read but not yet written (in process), and unread in its socket.
        maxUnwrittenBytesInProcess: maxUnwrittenA,
        socketUnreadBytesAtKill: unreadAtKill,
        totalMs: Date.now() - began,
      };
      t.diagnostic(JSON.stringify(figures));
    } finally {
      for (const proc of processes) {
        proc.child.kill("SIGTERM");
        await proc.exited;
      }
      await daemonA.close().catch(() => undefined);
      await guest?.stop();
    }
  });
});
