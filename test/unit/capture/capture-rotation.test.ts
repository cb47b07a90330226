/**
 * Capture rotation on real files in a temporary folder: segments close at exactly rotateBytes and are
 * named by their first absolute offset, retention deletes the oldest (counted, logged, in the index),
 * offsets survive rotation and restarts, and reads (in process and through the API) span segments.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Capture, type RotationPolicy } from "../../../src/capture/capture.js";
import { freeTcpPort } from "../../kit/index.js";
import { startTestDaemon } from "../../helpers/daemon.js";
import { parseIndex, type IndexRecord } from "../../helpers/capture-index.js";

/** A deterministic byte stream with every byte value, LF only every 100 bytes. */
function streamBytes(length: number, from = 0): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) {
    const at = from + i;
    const value = (at * 7 + (at >> 8)) & 0xff;
    bytes[i] = at % 100 === 99 ? 0x0a : value === 0x0a ? 0x0b : value;
  }
  return bytes;
}

/** Feeds `bytes` in uneven chunks (1 to 997 bytes), as a wire would. */
function feed(capture: Capture, bytes: Buffer): void {
  let at = 0;
  for (let size = 1; at < bytes.length; size = (size * 31 + 17) % 997 || 1) {
    capture.append(bytes.subarray(at, at + size), performance.now());
    at += size;
  }
}

interface Harness {
  dir: string;
  warnings: Record<string, unknown>[];
  open: (policy: RotationPolicy) => Promise<Capture>;
}

async function harness(): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-rotation-"));
  const warnings: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(line: Buffer, _encoding, done) {
      const record = JSON.parse(line.toString("utf8")) as Record<string, unknown>;
      if (record["level"] === 40) warnings.push(record);
      done();
    },
  });
  const log = pino({ level: "warn" }, sink);
  return {
    dir,
    warnings,
    open: (rotation) => Capture.open(dir, "vm0", { retainLines: 1000, rotation, log }),
  };
}

async function indexRecords(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** An index file's records, one per line (records of several lines split at LF), read through `capture`. */
async function lineRecords(capture: Capture, file: string): Promise<IndexRecord[]> {
  return parseIndex(await readFile(file, "utf8"), (off, len) => capture.read(off, len).then((s) => s.data));
}

describe("capture rotation", () => {
  it("closes segments at exactly rotateBytes, named by their first absolute offset", async () => {
    const { dir, open } = await harness();
    const capture = await open({ rotateBytes: 1000, maxTotalBytes: 100_000 });
    const bytes = streamBytes(3500);
    feed(capture, bytes);
    await capture.close();

    const names = (await readdir(dir)).sort();
    assert.deepEqual(names, [
      "vm0.index.jsonl",
      "vm0.index.jsonl.0000000000000000",
      "vm0.index.jsonl.0000000000001000",
      "vm0.index.jsonl.0000000000002000",
      "vm0.raw",
      "vm0.raw.0000000000000000",
      "vm0.raw.0000000000001000",
      "vm0.raw.0000000000002000",
    ]);
    for (const first of [0, 1000, 2000]) {
      const file = path.join(dir, `vm0.raw.${String(first).padStart(16, "0")}`);
      assert.deepEqual(await readFile(file), bytes.subarray(first, first + 1000), `segment at ${first}`);
    }
    assert.deepEqual(await readFile(path.join(dir, "vm0.raw")), bytes.subarray(3000));
    const [header] = await indexRecords(path.join(dir, "vm0.index.jsonl"));
    assert.equal(header?.["segment"], true);
    assert.equal(header?.["off"], 3000);
    // The line ending at offset 2999 was split after the rotation: it opens the new index.
    assert.equal(header?.["nextSeq"], 29);
    const reader = await open({ rotateBytes: 1000, maxTotalBytes: 100_000 });
    const [, firstLine] = await lineRecords(reader, path.join(dir, "vm0.index.jsonl"));
    assert.deepEqual(firstLine, { ...firstLine, kind: "line", seq: 29, off: 2900, len: 100 });
    await reader.close();
  });

  it("keeps index offsets absolute: every line record points at its bytes across segments", async () => {
    const { dir, open } = await harness();
    const capture = await open({ rotateBytes: 1000, maxTotalBytes: 100_000 });
    const bytes = streamBytes(4321);
    feed(capture, bytes);
    await capture.close();
    const reader = await open({ rotateBytes: 1000, maxTotalBytes: 100_000 });
    const files = (await readdir(dir)).filter((name) => name.startsWith("vm0.index.jsonl"));
    const lines = (await Promise.all(files.map((f) => lineRecords(reader, path.join(dir, f))))).flat();
    const records = lines.flatMap((r) => (r.kind === "line" && r.partial !== true ? [r] : []));
    assert.equal(records.length, 43);
    assert.deepEqual(
      records.map((r) => r.seq).sort((a, b) => a - b),
      Array.from({ length: 43 }, (_, i) => i),
    );
    for (const { seq, off, len } of records) {
      const slice = await reader.read(off, len);
      assert.deepEqual(slice.data, bytes.subarray(off, off + len), `line ${seq}`);
    }
    await reader.close();
  });

  it("deletes the oldest segments past maxTotalBytes, and counts, logs and indexes what it deleted", async () => {
    const { dir, warnings, open } = await harness();
    // Indexes count too: two closed segments with theirs, and a full active one with a quarter more.
    const capture = await open({ rotateBytes: 1000, maxTotalBytes: 4000 });
    const bytes = streamBytes(10_500);
    feed(capture, bytes);
    const slice = await capture.read(undefined, 1_000_000);
    assert.equal(
      slice.start,
      8000,
      "two closed segments and their indexes plus a full active one fit 4000 bytes",
    );
    assert.equal(slice.end, 10_500);
    assert.deepEqual(slice.data, bytes.subarray(8000));
    assert.deepEqual(capture.stats.deletedSegments, 8);
    assert.deepEqual(capture.stats.deletedBytes, 8000);
    await capture.close();

    const raws = (await readdir(dir)).filter((name) => name.startsWith("vm0.raw")).sort();
    assert.deepEqual(raws, ["vm0.raw", "vm0.raw.0000000000008000", "vm0.raw.0000000000009000"]);
    const kept = await Promise.all((await readdir(dir)).map((name) => stat(path.join(dir, name))));
    const keptBytes = kept.reduce((sum, s) => sum + s.size, 0);
    assert.ok(keptBytes <= 4000, `everything the port keeps fits maxTotalBytes: ${keptBytes}`);
    const deletedInLog = warnings.reduce(
      (sum, w) => sum + ((w["deleted"] as { bytes: number } | undefined)?.bytes ?? 0),
      0,
    );
    assert.equal(deletedInLog, 8000, "every deleted byte is in a warn line");
    const headers = (await readdir(dir))
      .filter((name) => name.startsWith("vm0.index.jsonl"))
      .map((name) => path.join(dir, name));
    const indexed = (await Promise.all(headers.map(indexRecords)))
      .flat()
      .filter((r) => r["segment"] === true && r["deleted"] !== undefined);
    assert.ok(indexed.length > 0, "the index records deletions");
    assert.ok(indexed.every((r) => (r["deleted"] as { bytes: number }).bytes > 0));
  });

  it("reads across segment boundaries and refuses offsets outside what is kept", async () => {
    const { open } = await harness();
    const capture = await open({ rotateBytes: 1000, maxTotalBytes: 4000 });
    const bytes = streamBytes(10_500);
    feed(capture, bytes);
    const across = await capture.read(8500, 1500);
    assert.equal(across.offset, 8500);
    assert.deepEqual(across.data, bytes.subarray(8500, 10_000));
    assert.equal((await capture.read(7999, 10)).offset, null, "deleted by rotation");
    assert.equal((await capture.read(10_501, 10)).offset, null, "past the end");
    const atEnd = await capture.read(10_500, 10);
    assert.equal(atEnd.offset, 10_500);
    assert.equal(atEnd.data.length, 0);
    await capture.close();
  });

  it("resumes after a restart at the same absolute offset and line seq, with the gap marked", async () => {
    const { dir, open } = await harness();
    const policy = { rotateBytes: 1000, maxTotalBytes: 100_000 };
    const first = await open(policy);
    const bytes = streamBytes(5000);
    feed(first, bytes.subarray(0, 3000)); // ends exactly on a boundary: the active segment is empty
    await first.close();
    const second = await open(policy);
    assert.equal(second.size, 3000);
    assert.equal(second.lines.next, 30);
    feed(second, bytes.subarray(3000));
    const all = await second.read(0, 1_000_000);
    assert.deepEqual(all.data, bytes);
    await second.close();
    const records = await indexRecords(path.join(dir, "vm0.index.jsonl.0000000000003000"));
    const gap = records.find((r) => r["gap"] === true);
    assert.equal(gap?.["off"], 3000);
    assert.equal(records.find((r) => r["seq"] === 30)?.["off"], 3000);
  });

  it("a smaller maxTotalBytes at start-up applies at once, and is logged", async () => {
    const { open, warnings } = await harness();
    const first = await open({ rotateBytes: 1000, maxTotalBytes: 100_000 });
    feed(first, streamBytes(6000));
    await first.close();
    const second = await open({ rotateBytes: 1000, maxTotalBytes: 2800 });
    const slice = await second.read(undefined, 100);
    assert.equal(slice.start, 5000);
    assert.equal(second.stats.deletedBytes, 5000);
    assert.equal(warnings.length, 1);
    await second.close();
  });
});

describe("GET /ports/:id/capture", () => {
  it("returns raw bytes across segments with the retained bounds, 410 before them, 416 past the end", async () => {
    const telnetPort = await freeTcpPort(); // nothing listens: the port stays connecting
    const daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort } }],
      config: { capture: { rotateBytes: 4096, maxTotalBytes: 16_384 } },
    });
    try {
      const capture = daemon.ports.get("vm0").capture;
      const bytes = streamBytes(20_000);
      feed(capture, bytes);
      const res = await daemon.app.inject({
        method: "GET",
        url: "/ports/vm0/capture?offset=9000&length=5000",
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers["content-type"], "application/octet-stream");
      assert.equal(res.headers["x-capture-start"], "8192");
      assert.equal(res.headers["x-capture-end"], "20000");
      assert.equal(res.headers["x-capture-offset"], "9000");
      assert.deepEqual(res.rawPayload, bytes.subarray(9000, 14_000));

      const oldest = await daemon.app.inject({ method: "GET", url: "/ports/vm0/capture" });
      assert.equal(oldest.headers["x-capture-offset"], "8192");
      assert.deepEqual(oldest.rawPayload, bytes.subarray(8192));

      const rotated = await daemon.app.inject({ method: "GET", url: "/ports/vm0/capture?offset=100" });
      assert.equal(rotated.statusCode, 410);
      assert.equal(rotated.json<{ code: string }>().code, "CAPTURE_ROTATED");
      assert.equal(rotated.json<{ start: number }>().start, 8192);

      const past = await daemon.app.inject({ method: "GET", url: "/ports/vm0/capture?offset=20001" });
      assert.equal(past.statusCode, 416);
      assert.equal(past.json<{ code: string }>().code, "CAPTURE_OFFSET_PAST_END");

      for (const url of [
        "/ports/vm0/capture?offset=-1",
        "/ports/vm0/capture?length=0",
        "/ports/vm0/capture?offset=abc",
        "/ports/vm0/capture?path=../../etc/passwd",
      ]) {
        const bad = await daemon.app.inject({ method: "GET", url });
        assert.equal(bad.statusCode, 400, url);
        assert.equal(bad.json<{ code: string }>().code, "VALIDATION", url);
      }
      const traversal = await daemon.app.inject({ method: "GET", url: "/ports/..%2Fvm0/capture" });
      assert.equal(traversal.statusCode, 400);
      const unknown = await daemon.app.inject({ method: "GET", url: "/ports/vm1/capture" });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json<{ code: string }>().code, "PORT_NOT_FOUND");
    } finally {
      await daemon.close();
    }
  });
});
