/**
 * The capture index's records as bytes, appended to one growing buffer per write: a line record is
 * encoded digit by digit rather than built as a JSON string, because at stream rates there are
 * thousands of lines per MB and a string per line (plus the join before the write) cost more than the
 * rest of the capture path together. Other records (BREAKs, gaps) are rare and arrive as JSON text.
 *
 *   lines(seq, ts, off, len, count, partial) ─┐
 *   text('{"gap":true,...}\n') ───────────────┴─> bytes, in call order ─> take() ─> one write
 *
 * A line record covers the `count` lines received together (one read from the wire, one timestamp):
 * `{"seq":S,"ts":T,"off":O,"len":L,"lines":N}` is lines S to S+N-1, which split the stream's bytes
 * [O, O+L) after each LF (each ends with its LF, none holds another). With N = 1, "lines" is left out,
 * and the record is the one line record older captures hold throughout: `{"seq","ts","off","len"}`,
 * plus `"partial":true` for a line cut without its LF (an idle prompt, a line over MAX_LINE_BYTES),
 * which always has a record of its own.
 *
 * Lines that came in over more than one moment carry `"dt"`: one character per line, the time since
 * the line before in units of 10 ms (COALESCE_MS), 0-9 then a-z (35); the first is "0", the line at
 * `ts`. Line i came at ts + 10 ms x (dt[0] + ... + dt[i]). Without `dt`, all came at `ts` (reads less
 * than 10 ms apart count as one moment).
 */
const OPEN_SEQ = ascii('{"seq":');
const LEN = ascii(',"len":');
const LINES = ascii(',"lines":');
const PARTIAL = ascii(',"partial":true');
const DT = ascii(',"dt":"');
const QUOTE = ascii('"');
const CLOSE = ascii("}\n");
const NO_BYTES = new Uint8Array(0);

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
  /** `,"ts":"<tsText>","off":`, the part between seq and off, the same for all lines of a read. */
  private tsPart: Uint8Array = NO_BYTES;

  get empty(): boolean {
    return this.end === this.start;
  }

  /** `{"seq":N,"ts":"T","off":N,"len":N[,"lines":N][,"partial":true]}\n`, as JSON.stringify would write it. */
  lines(seq: number, ts: string, off: number, len: number, count: number, partial: boolean, dt = ""): void {
    const buf = this.reserve(MAX_LINE_RECORD + ts.length + dt.length);
    if (ts !== this.tsText) {
      this.tsText = ts;
      this.tsPart = ascii(`,"ts":"${ts}","off":`);
    }
    let at = put(buf, this.end, OPEN_SEQ);
    at = writeUint(buf, at, seq);
    at = put(buf, at, this.tsPart);
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

  /** A record already serialised (ending in \n). */
  text(record: string): void {
    const buf = this.reserve(Buffer.byteLength(record));
    this.end += buf.write(record, this.end);
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
