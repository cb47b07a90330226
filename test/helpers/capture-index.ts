/**
 * Reading a port's capture back the way an operator would: the raw file and its line index
 * (<captureDir>/<id>.index.jsonl, records as written by src/capture/capture.ts; the format is described
 * in src/capture/index-format.ts).
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import type { Capture } from "../../src/capture/capture.js";
import { waitUntil } from "./daemon.js";

export type IndexRecord =
  | { kind: "line"; seq: number; ts: string; off: number; len: number; partial?: true }
  | { kind: "break"; ts: string; off: number; nextSeq: number }
  | { kind: "gap"; ts: string; off: number; reason: string }
  | { kind: "segment"; off: number };

/**
 * Every record of the active segment's index, in file order, one per line: a record of several lines
 * received together (`"lines": N`) is split at each LF of its bytes into N line records.
 */
export async function readIndex(capture: Capture): Promise<IndexRecord[]> {
  return parseIndex(await readFile(capture.files.index, "utf8"), (off, len) =>
    capture.read(off, len).then((slice) => slice.data),
  );
}

/** The records of an index file's text, one per line; `read` gives the capture's bytes [off, off+len). */
export async function parseIndex(
  text: string,
  read: (off: number, len: number) => Promise<Buffer>,
): Promise<IndexRecord[]> {
  const records: IndexRecord[] = [];
  for (const l of text.split("\n").filter((line) => line.length > 0)) {
    const r = JSON.parse(l) as Record<string, unknown>;
    const kind = r["gap"] ? "gap" : r["break"] ? "break" : r["segment"] ? "segment" : "line";
    const { lines, ...rest } = r;
    if (kind !== "line" || typeof lines !== "number") {
      records.push({ kind, ...rest } as IndexRecord);
      continue;
    }
    const run = rest as { seq: number; ts: string; off: number; len: number; dt?: string };
    const data = await read(run.off, run.len);
    assert.equal(data.length, run.len, `the bytes of lines ${run.seq} on are on disk`);
    assert.ok(run.dt === undefined || run.dt.length === lines, `${l}: one dt character a line`);
    let at = 0;
    let units = 0;
    for (let i = 0; i < lines; i += 1) {
      const lf = data.indexOf(0x0a, at);
      assert.ok(lf !== -1, `line ${run.seq + i} of ${l} ends with LF`);
      // `dt`: each line's time after the line before, in 10 ms units (base 36); none: all at ts.
      units += i === 0 || run.dt === undefined ? 0 : parseInt(run.dt[i] ?? "0", 36);
      const ts = units === 0 ? run.ts : new Date(Date.parse(run.ts) + units * 10).toISOString();
      records.push({ kind: "line", seq: run.seq + i, ts, off: run.off + at, len: lf + 1 - at });
      at = lf + 1;
    }
    assert.equal(at, run.len, `${l} holds exactly its ${lines} lines`);
  }
  return records;
}

/** Waits until every captured byte has reached the raw file, and returns the file. */
export async function flushedRaw(capture: Capture): Promise<Buffer> {
  await waitUntil(
    async () => (await readFile(capture.files.raw)).length >= capture.size,
    3000,
    "capture flushed to disk",
  );
  return readFile(capture.files.raw);
}

/** Text of a line record with its line ending, read from the raw file of a fresh, unrotated capture. */
export function lineText(raw: Buffer, record: { off: number; len: number }): string {
  return raw.subarray(record.off, record.off + record.len).toString("latin1");
}

/**
 * The capture continued in the same raw file across an outage: `before` sits where it was captured,
 * `after` follows it, and exactly one gap record lies between them in the index, at the stream offset
 * where the link was lost, ordered between the two lines' records.
 */
export async function assertContinuedAcrossGap(
  capture: Capture,
  before: { text: string; off: number },
  after: { text: string; off: number },
): Promise<void> {
  const raw = await flushedRaw(capture);
  assert.equal(raw.subarray(before.off, before.off + before.text.length).toString("latin1"), before.text);
  assert.equal(raw.subarray(after.off, after.off + after.text.length).toString("latin1"), after.text);
  assert.ok(after.off >= before.off + before.text.length, "the new bytes follow the old in one file");
  // Reads close together share one index record, written once they pause (at most ~1 s later).
  let index: IndexRecord[] = [];
  const at = (off: number) => index.findIndex((r) => r.kind === "line" && r.off === off);
  await waitUntil(
    async () => {
      index = await readIndex(capture);
      return at(after.off) >= 0;
    },
    5000,
    "the line after the outage in the index",
  ).catch(() => undefined); // the assertion below says what is missing
  const beforeAt = at(before.off);
  const afterAt = at(after.off);
  assert.ok(beforeAt >= 0 && afterAt > beforeAt, "both lines indexed, in order");
  const gaps = index.slice(beforeAt + 1, afterAt).filter((r) => r.kind === "gap");
  assert.equal(gaps.length, 1, `one gap between the lines: ${JSON.stringify(gaps)}`);
  const gap = gaps[0]!;
  assert.ok(
    gap.off >= before.off + before.text.length && gap.off <= after.off,
    `gap at stream offset ${gap.off}, between ${before.off + before.text.length} and ${after.off}`,
  );
  assert.match(gap.reason, /\S/, "the gap says why");
}
