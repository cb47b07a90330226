import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  coveredEndOf,
  formatRecord,
  IndexRecords,
  nextSeqAfter,
  parseRecord,
  segmentHeaderOffset,
  type IndexRecord,
  type LineRecord,
} from "../../../src/capture/index-format.js";

const ts = "2026-01-02T03:04:05.678Z";
const big = Number.MAX_SAFE_INTEGER - 1;

/** At least one record of every kind and every optional field, with and without it. */
const records: IndexRecord[] = [
  { kind: "line", seq: 0, ts, off: 0, len: 12, lines: 1, partial: false, dt: "" },
  { kind: "line", seq: 7, ts, off: 100, len: 3, lines: 1, partial: true, dt: "" },
  { kind: "line", seq: 2 ** 32 + 1, ts, off: big, len: 8192, lines: 4097, partial: false, dt: "" },
  { kind: "line", seq: 40, ts, off: 5000, len: 30, lines: 3, partial: false, dt: "05z" },
  { kind: "break", ts, off: 123_456, nextSeq: 41 },
  { kind: "gap", ts, off: 200, reason: "capture reopened (daemon restart)" },
  { kind: "gap", ts, off: 300, len: 4096, reason: 'ENOSPC – ü "quoted"' },
  { kind: "segment", ts, off: 1_048_576, nextSeq: 9000 },
  { kind: "segment", ts, off: big, nextSeq: 12, deleted: { segments: 2, bytes: 2_097_152 } },
];

function linesOf(text: string): string[] {
  assert.ok(text.endsWith("\n"), "a record ends with LF");
  return text.split("\n").slice(0, -1);
}

describe("capture index format", () => {
  it("reads back every kind of record it writes (formatRecord -> parseRecord)", () => {
    for (const record of records) {
      const [line, ...rest] = linesOf(formatRecord(record));
      assert.deepEqual(rest, [], "one record is one line");
      assert.deepEqual(parseRecord(line as string), record);
    }
  });

  it("reads back line records as the fast encoder writes them, and marks in call order", () => {
    const buffer = new IndexRecords();
    for (const record of records) {
      if (record.kind === "line") {
        const { seq, ts: t, off, len, lines, partial, dt } = record;
        buffer.lines(seq, t, off, len, lines, partial, dt);
      } else buffer.mark(record);
    }
    const text = buffer.take().toString("utf8");
    assert.equal(text, records.map(formatRecord).join(""), "the encoder writes what formatRecord does");
    assert.deepEqual(linesOf(text).map(parseRecord), records);
  });

  it("keeps the bytes older captures hold: the fields and their order", () => {
    const line: LineRecord = { kind: "line", seq: 1, ts, off: 2, len: 3, lines: 1, partial: false, dt: "" };
    assert.equal(formatRecord(line), `{"seq":1,"ts":"${ts}","off":2,"len":3}\n`);
    assert.equal(
      formatRecord({ kind: "break", ts, off: 5, nextSeq: 6 }),
      `{"break":true,"ts":"${ts}","off":5,"nextSeq":6}\n`,
    );
    assert.equal(
      formatRecord({ kind: "gap", ts, off: 5, len: 2, reason: "EIO" }),
      `{"gap":true,"ts":"${ts}","off":5,"len":2,"reason":"EIO"}\n`,
    );
    assert.equal(
      formatRecord({ kind: "segment", ts, off: 5, nextSeq: 6, deleted: { segments: 1, bytes: 9 } }),
      `{"segment":true,"ts":"${ts}","off":5,"nextSeq":6,"deleted":{"segments":1,"bytes":9}}\n`,
    );
    // Older captures: one line record per line, no "lines".
    assert.deepEqual(parseRecord(`{"seq":4,"ts":"${ts}","off":8,"len":2}`), {
      ...line,
      seq: 4,
      off: 8,
      len: 2,
    });
  });

  it("start-up's readers give what the parsed record says, for every kind", () => {
    for (const record of records) {
      const line = linesOf(formatRecord(record))[0] as string;
      const expectedNext =
        record.kind === "line" ? record.seq + record.lines : record.kind === "gap" ? null : record.nextSeq;
      assert.equal(nextSeqAfter(line), expectedNext, `next seq after ${line}`);
      const expectedEnd =
        record.off + (record.kind === "line" || record.kind === "gap" ? (record.len ?? 0) : 0);
      assert.equal(coveredEndOf(line), expectedEnd, `covered end of ${line}`);
      assert.equal(segmentHeaderOffset(line), record.kind === "segment" ? record.off : null);
    }
  });

  it("start-up's readers tolerate a line cut at its start (the first line of an index's tail)", () => {
    const line = linesOf(
      formatRecord({ kind: "line", seq: 40, ts, off: 5000, len: 30, lines: 3, partial: false, dt: "" }),
    )[0] as string;
    const cut = line.slice(line.indexOf(',"ts"'));
    assert.equal(nextSeqAfter(cut), null, "a cut line record says nothing of seqs");
    assert.equal(segmentHeaderOffset(cut), null);
    assert.equal(parseRecord(cut), null);
    assert.equal(parseRecord('{"kind":"unknown"}'), null);
  });
});
