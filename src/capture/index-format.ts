/**
 * The capture index's one format: every record written to `<id>.index.jsonl` is made here, and every
 * reader of it (start-up, the loss cut) reads it here. One JSON object per line, four kinds:
 *
 *   line     {"seq":S,"ts":T,"off":O,"len":L[,"lines":N][,"partial":true][,"dt":"..."]}
 *   break    {"break":true,"ts":T,"off":O,"nextSeq":S}            a BREAK sent at offset O
 *   gap      {"gap":true,"ts":T,"off":O[,"len":L],"reason":R}     no bytes (a restart), or L bytes lost
 *   segment  {"segment":true,"ts":T,"off":O,"nextSeq":S[,"deleted":{"segments":N,"bytes":B}]}
 *            the first record of a segment's index: its first byte's offset
 *
 * A line record covers the `count` lines received together (one read from the wire, one timestamp):
 * it is lines S to S+N-1, which split the stream's bytes [O, O+L) after each LF (each ends with its
 * LF, none holds another). With N = 1, "lines" is left out, and the record is the one line record
 * older captures hold throughout, plus `"partial":true` for a line cut without its LF (an idle prompt,
 * a line over MAX_LINE_BYTES), which always has a record of its own.
 *
 * Lines that came in over more than one moment carry `"dt"`: one character per line, the time since
 * the line before in units of 10 ms (COALESCE_MS), 0-9 then a-z (35); the first is "0", the line at
 * `ts`. Line i came at ts + 10 ms x (dt[0] + ... + dt[i]). Without `dt`, all came at `ts`.
 *
 * Line records are encoded digit by digit into one growing buffer (IndexRecords), not built as JSON
 * strings: there are thousands per MB of stream (see docs/performance.md). The other kinds are rare.
 *
 *   lines(seq, ts, off, len, count, partial) ─┐
 *   mark({ kind: "gap", ... }) ───────────────┴─> bytes, in call order ─> take() ─> one write
 */

export interface LineRecord {
  readonly kind: "line";
  readonly seq: number;
  readonly ts: string;
  readonly off: number;
  readonly len: number;
  /** How many lines the record covers (1 when the record does not say). */
  readonly lines: number;
  readonly partial: boolean;
  /** One character a line, base 36, in COALESCE_MS units; "" when all came at `ts`. */
  readonly dt: string;
}

export interface BreakRecord {
  readonly kind: "break";
  readonly ts: string;
  readonly off: number;
  /** The seq the next line gets. */
  readonly nextSeq: number;
}

export interface GapRecord {
  readonly kind: "gap";
  readonly ts: string;
  readonly off: number;
  /** Bytes lost from `off` (the disk refused them); absent: no bytes could arrive (a restart). */
  readonly len?: number;
  readonly reason: string;
}

export interface SegmentRecord {
  readonly kind: "segment";
  readonly ts: string;
  /** Absolute offset of the segment's first byte. */
  readonly off: number;
  readonly nextSeq: number;
  /** What retention deleted when this segment was opened. */
  readonly deleted?: { readonly segments: number; readonly bytes: number };
}

/** The records other than line records: written as JSON text, one at a time. */
export type MarkRecord = BreakRecord | GapRecord | SegmentRecord;
export type IndexRecord = LineRecord | MarkRecord;

/** The record as one line of the index, ending in \n (a line record as IndexRecords.lines writes it). */
export function formatRecord(record: IndexRecord): string {
  switch (record.kind) {
    case "line": {
      const { seq, ts, off, len, lines, partial, dt } = record;
      const json = {
        seq,
        ts,
        off,
        len,
        ...(lines !== 1 ? { lines } : {}),
        ...(partial ? { partial: true } : {}),
        ...(dt !== "" ? { dt } : {}),
      };
      return `${JSON.stringify(json)}\n`;
    }
    case "break": {
      const { ts, off, nextSeq } = record;
      return `${JSON.stringify({ break: true, ts, off, nextSeq })}\n`;
    }
    case "gap": {
      const { ts, off, len, reason } = record;
      return `${JSON.stringify({ gap: true, ts, off, ...(len !== undefined ? { len } : {}), reason })}\n`;
    }
    case "segment": {
      const { ts, off, nextSeq, deleted } = record;
      const json = { segment: true, ts, off, nextSeq, ...(deleted ? { deleted } : {}) };
      return `${JSON.stringify(json)}\n`;
    }
  }
}

/** One line of the index (without its \n) as a record; null when it is not one this format knows. */
export function parseRecord(line: string): IndexRecord | null {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof r !== "object" || r === null) return null;
  const ts = r["ts"];
  const off = r["off"];
  if (typeof ts !== "string" || typeof off !== "number") return null;
  const len = r["len"];
  if (r["break"] === true) {
    const nextSeq = r["nextSeq"];
    return typeof nextSeq === "number" ? { kind: "break", ts, off, nextSeq } : null;
  }
  if (r["gap"] === true) {
    const reason = r["reason"];
    if (typeof reason !== "string") return null;
    return typeof len === "number" ? { kind: "gap", ts, off, len, reason } : { kind: "gap", ts, off, reason };
  }
  if (r["segment"] === true) {
    const nextSeq = r["nextSeq"];
    if (typeof nextSeq !== "number") return null;
    const deleted = r["deleted"] as { segments?: unknown; bytes?: unknown } | undefined;
    if (deleted && typeof deleted.segments === "number" && typeof deleted.bytes === "number") {
      return {
        kind: "segment",
        ts,
        off,
        nextSeq,
        deleted: { segments: deleted.segments, bytes: deleted.bytes },
      };
    }
    return { kind: "segment", ts, off, nextSeq };
  }
  const seq = r["seq"];
  if (typeof seq !== "number" || typeof len !== "number") return null;
  const lines = typeof r["lines"] === "number" ? r["lines"] : 1;
  const dt = typeof r["dt"] === "string" ? r["dt"] : "";
  return { kind: "line", seq, ts, off, len, lines, partial: r["partial"] === true, dt };
}

/*
 * Start-up reads the end of an index (up to 64 KiB, whose first line may be cut) once per port, and
 * only needs a number or two from a record: these read it without parsing the JSON, and tolerate a
 * line cut at its start.
 */

/** The segment's first offset its header (the index's first line) gives, or null when it has none. */
export function segmentHeaderOffset(firstLine: string): number | null {
  const header = /^\{"segment":true,[^\n]*?"off":(\d+)/.exec(firstLine);
  return header ? Number(header[1]) : null;
}

/**
 * The seq the next line gets after this record: a line record's seq plus its lines, a BREAK's or a
 * segment header's nextSeq; null for a record that says nothing of seqs (a gap).
 */
export function nextSeqAfter(line: string): number | null {
  // A line record covers "lines" lines from seq (one when it says nothing, as in older captures).
  const seq = /^\{"seq":(\d+),/.exec(line);
  if (seq) return Number(seq[1]) + Number(/"lines":(\d+)/.exec(line)?.[1] ?? 1);
  const next = /"nextSeq":(\d+)/.exec(line);
  return next ? Number(next[1]) : null;
}

/** Offset just past the bytes this record accounts for (off + len, a mark's off); null when none. */
export function coveredEndOf(line: string): number | null {
  const off = /"off":(\d+)/.exec(line);
  if (!off) return null;
  return Number(off[1]) + Number(/"len":(\d+)/.exec(line)?.[1] ?? 0);
}

const OPEN_SEQ = ascii('{"seq":');
const LEN = ascii(',"len":');
const LINES = ascii(',"lines":');
const PARTIAL = ascii(',"partial":true');
const DT = ascii(',"dt":"');
const QUOTE = ascii('"');
const CLOSE = ascii("}\n");

/** The longest line record: the fixed parts, a 24-character ISO time and four 16-digit numbers. */
const MAX_LINE_RECORD = 160;

/** The smallest buffer records go into: an idle port's index needs no more. */
const MIN_BUFFER = 4096;

export class IndexRecords {
  /** Records go into buf[start, end); bytes before start have been taken (and may be being written). */
  private buf: Buffer | null = null;
  private start = 0;
  private end = 0;
  private tsText = "";
  /**
   * `,"ts":"<tsText>","off":`, the part between seq and off, the same for all lines of a read: a
   * string written as latin1 (ASCII), as a typed array it was made per read from a string iterator.
   */
  private tsPart = "";

  get empty(): boolean {
    return this.end === this.start;
  }

  /** `{"seq":N,"ts":"T","off":N,"len":N[,"lines":N][,"partial":true]}\n`, as JSON.stringify would write it. */
  lines(seq: number, ts: string, off: number, len: number, count: number, partial: boolean, dt = ""): void {
    const buf = this.reserve(MAX_LINE_RECORD + ts.length + dt.length);
    if (ts !== this.tsText) {
      this.tsText = ts;
      this.tsPart = `,"ts":"${ts}","off":`;
    }
    let at = put(buf, this.end, OPEN_SEQ);
    at = writeUint(buf, at, seq);
    at += buf.write(this.tsPart, at, "latin1");
    at = writeUint(buf, at, off);
    at = put(buf, at, LEN);
    at = writeUint(buf, at, len);
    if (count !== 1) {
      at = put(buf, at, LINES);
      at = writeUint(buf, at, count);
    }
    if (partial) at = put(buf, at, PARTIAL);
    if (dt !== "") {
      at = put(buf, at, DT);
      at += buf.write(dt, at, "latin1");
      at = put(buf, at, QUOTE);
    }
    this.end = put(buf, at, CLOSE);
  }

  /** A BREAK, gap or segment record. */
  mark(record: MarkRecord): void {
    const text = formatRecord(record);
    const buf = this.reserve(Buffer.byteLength(text));
    this.end += buf.write(text, this.end);
  }

  /**
   * The records appended since the last take(). Later records go after them in the same buffer, or a
   * new one, never over them: the bytes taken stay valid while a write holds them.
   */
  take(): Buffer {
    const out = (this.buf ?? Buffer.alloc(0)).subarray(this.start, this.end);
    this.start = this.end;
    return out;
  }

  /**
   * A buffer with room for `bytes` more at `end`. A new one keeps the pending records and at least the
   * old one's size: the buffer fills up again between every two writes, and shrinking it would copy
   * the same records over and over while it grew back.
   */
  private reserve(bytes: number): Buffer {
    if (this.buf && this.end + bytes <= this.buf.length) return this.buf;
    const pending = this.end - this.start;
    const size = Math.max(MIN_BUFFER, this.buf?.length ?? 0, 2 * (pending + bytes));
    const bigger = Buffer.allocUnsafeSlow(size);
    this.buf?.copy(bigger, 0, this.start, this.end);
    this.buf = bigger;
    this.start = 0;
    this.end = pending;
    return bigger;
  }
}

function put(buf: Buffer, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i += 1) buf[at + i] = bytes[i] as number;
  return at + bytes.length;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** Writes a non-negative integer (below 2^53) in decimal at `at`; returns the offset after it. */
function writeUint(buf: Buffer, at: number, n: number): number {
  if (n <= 0x7fffffff) return writeSmallUint(buf, at, n);
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits += 1;
  let value = n;
  for (let i = at + digits - 1; i >= at; i -= 1) {
    buf[i] = 48 + (value % 10);
    value = Math.floor(value / 10);
  }
  return at + digits;
}

/** writeUint below 2^31, in integer arithmetic (most seqs, offsets and every length). */
function writeSmallUint(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = (rest / 10) | 0) digits += 1;
  let value = n;
  for (let i = at + digits - 1; i >= at; i -= 1) {
    const next = (value / 10) | 0;
    buf[i] = 48 + value - next * 10;
    value = next;
  }
  return at + digits;
}
