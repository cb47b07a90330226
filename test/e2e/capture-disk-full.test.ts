/**
 * The capture against a disk that fills up and a filesystem that turns read-only, on real tmpfs
 * mounts, with a real guest flooding its UART (`seq 1 400000`, ~2.7 MB into a 2 MB tmpfs):
 *
 *   flood ──> daemon ──> captureDir (tmpfs 2m) ── ENOSPC ──> degraded ── remount 64m ──> ok
 *   then: disk filled again, daemon stopped while degraded, started again (offsets must not go back)
 *   then: ext4 (errors=remount-ro) turned read-only under a running daemon by an error (EROFS)
 *
 * What must hold: offsets count every byte read (they match QEMU's own logfile), each lost span is a
 * gap record with its reason and length, every index line parses (none torn), every line record lies
 * in bytes that read back, no line in the capture that the guest never printed, GET /capture on a lost
 * span is a 410 CAPTURE_LOST with the span, GET /ports/:id shows degraded then ok, a bounded number of
 * log lines per episode, and a restart continues after the last offset handed out.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { READY_MARKER, freeTcpPort, startGuest, type Guest, QUIET_CONSOLE } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { client, waitLine, type LogBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";

const skip =
  requireTools("qemu-system-x86_64", "cpio", "busybox", "mkfs.ext4") ||
  (process.getuid?.() !== 0 && "needs root");

interface PortBody {
  state: string;
  capture: { status: "ok" | "degraded"; reason?: string; lostBytes: number };
}

interface Gap {
  gap: true;
  off: number;
  len?: number;
  reason: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function mount(...args: string[]): void {
  execFileSync("mount", args, { stdio: "pipe" });
}

/** Every record of every index file of vm0 (closed ones too); JSON.parse throws on a torn one. */
async function allRecords(dir: string): Promise<Record<string, unknown>[]> {
  const names = (await readdir(dir)).filter((n) => n.startsWith("vm0.index.jsonl")).sort();
  const records: Record<string, unknown>[] = [];
  for (const name of names) {
    const text = await readFile(path.join(dir, name), "utf8");
    assert.ok(text === "" || text.endsWith("\n"), `${name} ends with a whole record`);
    for (const line of text.split("\n").filter(Boolean)) {
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        assert.fail(`${name}: torn index record ${line.slice(0, 120)}`);
      }
    }
  }
  return records;
}

/** The whole retained capture through the API: its readable spans, skipping lost ones (410). */
async function readSpans(url: string): Promise<{ off: number; data: Buffer }[]> {
  const spans: { off: number; data: Buffer }[] = [];
  let offset = 0;
  for (let guard = 0; guard < 1000; guard++) {
    const res = await fetch(`${url}/ports/vm0/capture?offset=${offset}&length=4194304`);
    if (res.status === 410) {
      const body = (await res.json()) as { code: string; off: number; len: number };
      assert.equal(body.code, "CAPTURE_LOST");
      assert.ok(
        body.off <= offset && offset < body.off + body.len,
        "the 410 names the span holding the offset",
      );
      offset = body.off + body.len;
      continue;
    }
    if (res.status === 416) break;
    assert.equal(res.status, 200, `GET capture at ${offset}`);
    const data = Buffer.from(await res.arrayBuffer());
    if (data.length === 0) break;
    const last = spans.at(-1);
    if (last && last.off + last.data.length === offset) last.data = Buffer.concat([last.data, data]);
    else spans.push({ off: offset, data });
    offset += data.length;
  }
  return spans;
}

/** The bytes [off, off+len) if one readable span holds them all, else null. */
function bytesAt(spans: { off: number; data: Buffer }[], off: number, len: number): Buffer | null {
  for (const span of spans) {
    if (off >= span.off && off + len <= span.off + span.data.length) {
      return span.data.subarray(off - span.off, off - span.off + len);
    }
  }
  return null;
}

describe("capture on a disk that fills up or turns read-only", { skip, timeout: 600_000 }, () => {
  let dir = "";
  let mounted = false;
  let guest: Guest | undefined;
  let telnetPort = 0;
  let auditDir = "";
  const logLines: Record<string, unknown>[] = [];
  const logStream = new Writable({
    write(line: Buffer, _encoding, done) {
      for (const text of line.toString("utf8").split("\n").filter(Boolean)) {
        const record = JSON.parse(text) as Record<string, unknown>;
        if (String(record["msg"]).startsWith("capture:")) logLines.push(record);
      }
      done();
    },
  });
  const start = (captureDir = dir) =>
    startTestDaemon({
      listen: true,
      captureDir,
      logStream,
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort } }],
      config: {
        audit: { file: path.join(auditDir, "audit.jsonl") },
        rateLimit: { max: 1_000_000 },
        capture: { rotateBytes: 512 * 1024, maxTotalBytes: 64 * 1024 * 1024 },
      },
    });
  let daemon: Awaited<ReturnType<typeof start>> | undefined;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-diskfull-"));
    auditDir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-diskfull-audit-"));
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", dir);
    mounted = true;
    telnetPort = await freeTcpPort();
    daemon = await start();
    guest = await startGuest({ telnetPort, append: QUIET_CONSOLE });
  });

  after(async () => {
    await daemon?.close().catch(() => undefined);
    await guest?.stop();
    if (mounted) execFileSync("umount", ["-l", dir]);
    await rm(dir, { recursive: true, force: true });
    await rm(auditDir, { recursive: true, force: true });
  });

  it("marks what ENOSPC lost, keeps offsets and records whole, and resumes when space returns", async () => {
    assert.ok(daemon && guest);
    const api = client(daemon.url);
    const port = async () => (await api.get<PortBody>("/ports/vm0")).body;
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
    assert.equal((await port()).capture.status, "ok");
    await api.post("/ports/vm0/write", { data: "seq 1 400000\r" });

    // Bounds for a busy 2-core host, where the emulated UART slows to a third.
    await waitUntil(async () => (await port()).capture.status === "degraded", 180_000, "the disk to fill");
    const degraded = await port();
    assert.equal(degraded.state, "open", "the link stays open while the capture is degraded");
    assert.equal(degraded.capture.reason, "ENOSPC");
    await waitUntil(async () => (await port()).capture.lostBytes > 100_000, 30_000, "100 KB lost");
    mount("-o", "remount,size=64m", dir);
    await waitUntil(async () => (await port()).capture.status === "ok", 10_000, "capture to resume");
    const last = await waitLine(api, 0, "^400000", 400_000);
    await waitLine(api, last, "^/ # ", 20_000);
    const url = daemon.url;
    const written = async () =>
      Number((await fetch(`${url}/ports/vm0/capture?length=1`)).headers.get("x-capture-end"));
    const captured = daemon.ports.get("vm0").capture;
    await waitUntil(async () => (await written()) >= captured.size, 30_000, "every byte read on disk");
    const final = await port();
    assert.equal(final.capture.status, "ok");
    assert.ok(final.capture.lostBytes > 100_000, `lost ${final.capture.lostBytes}`);

    const records = await allRecords(dir);
    const gaps = records.filter((r): r is Gap & Record<string, unknown> => r["gap"] === true);
    const lost = gaps.filter((g) => g.reason === "ENOSPC");
    assert.ok(lost.length >= 1, `a gap record for ENOSPC: ${JSON.stringify(gaps)}`);
    assert.equal(
      lost.reduce((sum, g) => sum + (g.len ?? 0), 0),
      final.capture.lostBytes,
      "the gap records add up to lostBytes",
    );

    const spans = await readSpans(daemon.url);
    const capture = daemon.ports.get("vm0").capture;
    for (const g of lost) {
      const res = await fetch(`${daemon.url}/ports/vm0/capture?offset=${g.off + 1}`);
      assert.equal(res.status, 410, "an offset inside a lost span is refused");
      const body = (await res.json()) as { code: string; off: number; len: number };
      assert.deepEqual([body.code, body.off, body.len], ["CAPTURE_LOST", g.off, g.len]);
      const before = await fetch(`${daemon.url}/ports/vm0/capture?offset=${g.off - 10}&length=100`);
      assert.equal(before.status, 200);
      assert.equal(
        Buffer.from(await before.arrayBuffer()).length,
        10,
        "a read reaching a lost span stops there",
      );
    }

    // Every line record lies in bytes that read back, and splits at LF into its lines.
    let lineRecords = 0;
    for (const r of records) {
      if (typeof r["seq"] !== "number") continue;
      const [off, len] = [r["off"] as number, r["len"] as number];
      assert.ok(off + len <= capture.size, `record ${JSON.stringify(r)} is within the stream`);
      const bytes = bytesAt(spans, off, len);
      assert.ok(
        bytes,
        `record ${JSON.stringify(r)} lies in bytes on disk: spans ${JSON.stringify(spans.map((x) => [x.off, x.data.length]))}, gaps ${JSON.stringify(gaps)}`,
      );
      if (r["partial"] !== true) {
        assert.equal(bytes.at(-1), 0x0a, `record ${JSON.stringify(r)} ends with LF`);
        const lfs = bytes.toString("latin1").split("\n").length - 1;
        assert.equal(
          lfs,
          (r["lines"] as number | undefined) ?? 1,
          `record ${JSON.stringify(r)} holds its lines`,
        );
      }
      lineRecords += 1;
    }
    assert.ok(lineRecords > 10, `${lineRecords} line records`);

    // No line the guest never printed: within a span, the numbers run on by one.
    for (const span of spans) {
      const lines = span.data.toString("latin1").split("\r\n").slice(1, -1);
      let previous: number | null = null;
      for (const line of lines) {
        if (!/^\d+$/.test(line)) {
          previous = null;
          continue;
        }
        const n = Number(line);
        if (previous !== null)
          assert.equal(n, previous + 1, `line ${line} follows ${previous} at span ${span.off}`);
        previous = n;
      }
    }

    // Offsets count every byte read, stored or not: the last line sits where QEMU's own record has it.
    const log = await readFile(guest.logfile);
    const inLog = log.lastIndexOf("\n400000\r\n");
    const lastSpan = spans.at(-1);
    assert.ok(lastSpan);
    const inCapture = lastSpan.data.lastIndexOf("\n400000\r\n");
    assert.ok(
      inCapture !== -1,
      `the last line was captured: ${JSON.stringify(spans.map((x) => [x.off, x.data.length]))} ` +
        `${JSON.stringify(lastSpan.data.subarray(-80).toString("latin1"))} size ${capture.size} ` +
        JSON.stringify(
          await Promise.all(
            (await readdir(dir)).sort().map(async (n) => [n, (await stat(path.join(dir, n))).size]),
          ),
        ),
    );
    assert.equal(lastSpan.off + inCapture, inLog, "the offset of the last line matches QEMU's logfile");

    const episodeLines = logLines.filter((l) => (l["level"] as number) >= 40);
    assert.ok(episodeLines.length >= 2, "the loss and the resume are logged");
    assert.ok(
      episodeLines.length <= 2 * lost.length,
      `one line each way per episode: ${episodeLines.length}`,
    );
  });

  it("continues after the last offset when stopped while the disk is full", async () => {
    assert.ok(daemon);
    const api = client(daemon.url);
    const port = async () => (await api.get<PortBody>("/ports/vm0")).body;
    // Fill what is left with a file of our own, then make the guest print.
    try {
      execFileSync("dd", ["if=/dev/zero", `of=${path.join(dir, "filler")}`, "bs=64k"], { stdio: "pipe" });
    } catch {
      // dd stops at ENOSPC: that is the point.
    }
    // The first request after a long pause can meet a keep-alive socket the server just closed.
    await api.post("/ports/vm0/write", { data: "seq 1 3000\r" }).catch(async () => {
      await sleep(100);
      return api.post("/ports/vm0/write", { data: "seq 1 3000\r" });
    });
    await waitUntil(async () => (await port()).capture.status === "degraded", 20_000, "degraded again");
    await waitLine(api, 0, "^3000", 60_000);
    const sizeBefore = daemon.ports.get("vm0").capture.size;
    const lostFrom = (await readSpans(daemon.url)).at(-1);
    await daemon.close();
    daemon = undefined;
    await rm(path.join(dir, "filler"));

    daemon = await start();
    const capture = daemon.ports.get("vm0").capture;
    const startSize = capture.size;
    assert.ok(startSize >= sizeBefore, `offsets go on from ${sizeBefore}, not back (now ${startSize})`);
    const api2 = client(daemon.url);
    await waitUntil(
      async () => (await api2.get<PortBody>("/ports/vm0")).body.state === "open",
      10_000,
      "open",
    );
    await api2.post("/ports/vm0/write", { data: 'echo after-""restart\r' });
    await api2.get<LogBody>(`/ports/vm0/log?since=0&waitMs=10000&match=^after-restart`);
    await sleep(300);
    const spans = await readSpans(daemon.url);
    const last = spans.at(-1);
    assert.ok(last && last.off >= sizeBefore, "the new bytes are after every offset handed out before");
    assert.ok(last.data.includes("after-restart"));
    const records = await allRecords(dir);
    const end = lostFrom ? lostFrom.off + lostFrom.data.length : 0;
    const gap = records.find((r) => r["gap"] === true && r["off"] === end && typeof r["len"] === "number");
    assert.ok(gap, `the span lost before the restart is a gap record at ${end}`);
    assert.equal(
      (gap["off"] as number) + (gap["len"] as number),
      startSize,
      "the gap ends where the new start is",
    );
  });

  // A captureDir read-only at start refuses the start (test/e2e/start-limits.test.ts), and a mount
  // with files open for writing cannot be remounted read-only (EBUSY). What turns a filesystem
  // read-only under a running daemon is the kernel itself: ext4 with errors=remount-ro after an error,
  // raised here through ext4's own trigger_fs_error. It stays read-only until unmounted, so this case
  // shows the degraded state and the whole records; resuming is shown by the ENOSPC case above.
  it("degrades when ext4 turns read-only under it (EROFS), records whole, the port open", async () => {
    assert.ok(daemon);
    await daemon.close();
    daemon = undefined;
    const ext4Dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-erofs-"));
    const image = path.join(auditDir, "ext4.img");
    execFileSync("truncate", ["-s", "16M", image]);
    execFileSync("mkfs.ext4", ["-q", "-F", image], { stdio: "pipe" });
    mount("-o", "loop,errors=remount-ro", image, ext4Dir);
    try {
      const device = execFileSync("findmnt", ["-n", "-o", "SOURCE", ext4Dir], { encoding: "utf8" }).trim();
      daemon = await start(ext4Dir);
      const api = client(daemon.url);
      const port = async () => (await api.get<PortBody>("/ports/vm0")).body;
      await waitUntil(async () => (await port()).state === "open", 10_000, "open");
      // The guest's shell may still be busy (or booting, when this case runs alone): type until it answers.
      const since = daemon.ports.get("vm0").capture.lines.next;
      await waitUntil(
        async () => {
          await api.post("/ports/vm0/write", { data: 'echo before-""ro\r' });
          const res = await api.get<LogBody>(
            `/ports/vm0/log?since=${since}&waitMs=3000&limit=1&match=${encodeURIComponent("^before-ro")}`,
          );
          return res.body.lines.length > 0;
        },
        120_000,
        "the guest's shell to echo before-ro",
      );
      await sleep(1500); // an index record is written once its reads pause (350 ms) or after 1 s
      const linesBefore = logLines.length;
      await writeFile(`/sys/fs/ext4/${path.basename(device)}/trigger_fs_error`, "sysrq-bridge test");
      await waitUntil(
        async () => {
          await api.post("/ports/vm0/write", { data: 'echo during-""ro\r' });
          await sleep(300);
          const { capture } = await port();
          return capture.status === "degraded" && capture.reason === "EROFS" && capture.lostBytes > 0;
        },
        30_000,
        "capture degraded with EROFS",
      );
      assert.equal((await port()).state, "open", "the port stays open");
      assert.equal((await fetch(`${daemon.url}/healthz`)).status, 200);
      const records = await allRecords(ext4Dir);
      assert.ok(
        records.length > 0,
        `the index written before the error reads back whole: ${JSON.stringify(await readdir(ext4Dir))}`,
      );
      const spans = await readSpans(daemon.url);
      assert.ok(
        spans.some((span) => span.data.includes("before-ro")),
        "bytes stored before the error read back",
      );
      const episodes = logLines.slice(linesBefore).filter((l) => (l["level"] as number) >= 40);
      assert.ok(
        episodes.length >= 1 && episodes.length <= 2,
        `one log line for the episode, not one per write: ${JSON.stringify(episodes.map((l) => l["msg"]))}`,
      );
    } finally {
      await daemon?.close().catch(() => undefined);
      daemon = undefined;
      execFileSync("umount", [ext4Dir]);
      await rm(ext4Dir, { recursive: true, force: true });
    }
  });
});
