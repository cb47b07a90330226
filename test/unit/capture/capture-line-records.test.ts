/**
 * The capture index records the lines one read completes together (one timestamp, one record, split
 * at LF by a reader); partial lines keep a record each, the line seq continues across a restart, and
 * while a listener follows the lines each line is indexed before the listener hears of it.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import {
  Capture,
  COALESCE_MS,
  MAX_DT_UNITS,
  MAX_RECORD_SPAN_MS,
  PARTIAL_IDLE_MS,
} from "../../../src/capture/capture.js";
import { readIndex } from "../../helpers/capture-index.js";

async function openCapture(dir: string): Promise<Capture> {
  return Capture.open(dir, "vm0", {
    retainLines: 100,
    rotation: { rotateBytes: 1_000_000, maxTotalBytes: 10_000_000 },
    log: pino({ level: "silent" }),
  });
}

async function rawRecords(capture: Capture): Promise<Record<string, unknown>[]> {
  await capture.read(0, 0); // after every write queued so far
  const text = await readFile(capture.files.index, "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("capture line records", () => {
  it("indexes the lines of one read as one record, which splits at LF into each line", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-lines-"));
    const capture = await openCapture(dir);
    // Reads further apart than one dt character can say: a record each.
    const t = performance.now();
    const apart = (MAX_DT_UNITS + 1) * COALESCE_MS;
    capture.append(Buffer.from("boot: one\r\nboot: two\r\nthree\n"), t);
    capture.append(Buffer.from("four\nfi"), t + apart);
    capture.append(Buffer.from("ve\nprompt$ "), t + 2 * apart);
    await new Promise((resolve) => setTimeout(resolve, PARTIAL_IDLE_MS + 50));

    const records = await rawRecords(capture);
    assert.deepEqual(
      records.map(({ seq, off, len, lines, partial }) => ({ seq, off, len, lines, partial })),
      [
        { seq: 0, off: 0, len: 28, lines: 3, partial: undefined },
        { seq: 3, off: 28, len: 5, lines: undefined, partial: undefined },
        { seq: 4, off: 33, len: 5, lines: undefined, partial: undefined },
        { seq: 5, off: 38, len: 8, lines: undefined, partial: true },
      ],
    );
    assert.equal(records[0]?.["ts"], capture.lines.query(0, 1).lines[0]?.ts, "the read's one timestamp");

    const lines = (await readIndex(capture)).flatMap((r) => (r.kind === "line" ? [r] : []));
    assert.deepEqual(
      lines.map(({ seq, off, len }) => [seq, off, len]),
      [
        [0, 0, 11],
        [1, 11, 11],
        [2, 22, 6],
        [3, 28, 5],
        [4, 33, 5],
        [5, 38, 8],
      ],
    );
    assert.deepEqual(
      capture.lines.query(0, 10).lines.map((l) => l.text),
      ["boot: one", "boot: two", "three", "four", "five", "prompt$ "],
    );
    await capture.close();

    // The next seq after a restart counts every line of the last record.
    const again = await openCapture(dir);
    assert.equal(again.lines.next, 6);
    again.append(Buffer.from("a\nb\n"), performance.now());
    await again.close();
    const reopened = await openCapture(dir);
    assert.equal(reopened.lines.next, 8);
    await reopened.close();
  });

  it("shares one record and its ts among reads less than COALESCE_MS apart, within MAX_RECORD_SPAN_MS", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-lines-"));
    const capture = await openCapture(dir);
    const t = performance.now();
    capture.append(Buffer.from("a\nb"), t);
    capture.append(Buffer.from("b\nc\n"), t + COALESCE_MS - 1);
    // A steady stream closes its record after MAX_RECORD_SPAN_MS however close its reads are.
    for (let at = 2 * COALESCE_MS - 2; at <= MAX_RECORD_SPAN_MS + 6 * COALESCE_MS; at += COALESCE_MS - 1) {
      capture.append(Buffer.from("e\n"), t + at);
    }
    await capture.close();
    const records = await rawRecords(capture);
    const lineRecords = records.filter((r) => "seq" in r);
    assert.deepEqual(
      { ...lineRecords[0], ts: undefined, len: undefined },
      { seq: 0, off: 0, lines: lineRecords[0]?.["lines"], ts: undefined, len: undefined },
      "no dt: every read was less than COALESCE_MS after the one before",
    );
    assert.ok(lineRecords.length >= 2, "the steady stream took more than one record");
    const total = lineRecords.reduce((n, r) => n + ((r["lines"] as number | undefined) ?? 1), 0);
    assert.equal(total, capture.lines.next, "every line is in a record");
  });

  it("says when each line came (dt, in 10 ms units) when a record's reads are further apart", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-lines-"));
    const capture = await openCapture(dir);
    // A whole number: "\n" at t + 35 is exactly half a unit after t + 30 (rounds up), with no float error.
    const t = Math.ceil(performance.now());
    capture.append(Buffer.from("0\n"), t);
    capture.append(Buffer.from("1\n2\n"), t + 12);
    capture.append(Buffer.from("3"), t + 31);
    capture.append(Buffer.from("\n"), t + 35);
    capture.append(Buffer.from("4\n"), t + 31 + 10 * MAX_DT_UNITS);
    // Further than MAX_DT_UNITS from the last: a record of its own.
    capture.append(Buffer.from("5\n"), t + 50 + 20 * MAX_DT_UNITS);
    await capture.close();
    const records = await rawRecords(capture);
    assert.deepEqual(
      records.filter((r) => "seq" in r).map(({ seq, lines, dt }) => ({ seq, lines, dt })),
      [
        { seq: 0, lines: 5, dt: "0103y" },
        { seq: 5, lines: undefined, dt: undefined },
      ],
    );
    const lines = (await readIndex(capture)).flatMap((l) => (l.kind === "line" ? [l] : []));
    const at = (i: number) => Date.parse(lines[i]?.ts ?? "") - Date.parse(lines[0]?.ts ?? "");
    // Each within 5 ms of when its read came (35 ms for line 3: 40, to the nearest unit).
    assert.deepEqual([0, 1, 2, 3, 4].map(at), [0, 10, 10, 40, 380]);
  });

  it("a prompt's record, written PARTIAL_IDLE_MS after it, also ends the lines' record and its timer", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-lines-"));
    const capture = await openCapture(dir);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    capture.append(Buffer.from("Linux 6.1\r\n/ # "), performance.now());
    await new Promise((resolve) => setTimeout(resolve, PARTIAL_IDLE_MS + 50));
    assert.equal(timers(), before, "the lines' record timer does not wake the daemon again");
    const records = await rawRecords(capture);
    assert.deepEqual(
      records.map((r) => [r["seq"], r["partial"] ?? false]),
      [
        [0, false],
        [1, true],
      ],
    );
    await capture.close();
  });

  it("finds the line seq again behind more than 4 KiB of restarts' gap records", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-lines-"));
    const capture = await openCapture(dir);
    capture.append(Buffer.from("one\ntwo\nthree\n"), performance.now());
    await capture.close();
    // Each start marks a gap and nothing more when the target stays silent.
    for (let restart = 0; restart < 60; restart++) await (await openCapture(dir)).close();
    const opened = await openCapture(dir);
    const records = await rawRecords(opened);
    await opened.close();
    const afterLines = records.slice(records.findLastIndex((r) => "seq" in r) + 1);
    assert.ok(JSON.stringify(afterLines).length > 4096, "the gap records outgrow the first tail read");
    const again = await openCapture(dir);
    assert.equal(again.lines.next, 3);
    await again.close();
  });

  it("indexes each line before a listener hears of it, so what it marks follows the line", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-lines-"));
    const capture = await openCapture(dir);
    const stop = capture.onLine((line) => {
      if (line.text === "sysrq: Show Memory") capture.markBreak();
    });
    capture.append(Buffer.from("before\nsysrq: Show Memory\nafter\n"), performance.now());
    stop();
    await capture.close();
    const records = await readIndex(capture);
    const order = records.map((r) => (r.kind === "break" ? "BREAK" : r.kind === "line" ? r.seq : r.kind));
    assert.deepEqual(order, [0, 1, "BREAK", 2]);
  });
});
