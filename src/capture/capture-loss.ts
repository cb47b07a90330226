/**
 * Loss episodes: a write the disk refuses (ENOSPC, EROFS, EIO) begins one, and the stream keeps
 * counting the bytes it loses until a retry (at most every RETRY_MS, with the next bytes) can open a
 * new segment at their offset. That segment's index starts with its header and the gap record of the
 * span lost between; CaptureWriter decides when to write, this keeps the episode and its records.
 *
 * The index records of the first batch written after an episode are cut to the bytes on disk: a line
 * record made when its LF arrived can begin in the lost span (the line began before the disk came
 * back). Such a record is cut to start at the resume point, keeping the lines whose LF it holds (the
 * first one headless); one wholly before it is dropped. BREAK and gap marks keep their offsets.
 * Runs once per episode, so it may parse JSON.
 */
import { formatRecord, parseRecord, type LineRecord } from "./index-format.js";
import type { SegmentFiles } from "./segment-files.js";

/** While degraded, how often the next bytes try the disk again (each try: a few syscalls). */
export const RETRY_MS = 250;

/** A span of the stream the disk did not take: [off, off + len), and the error code that refused it. */
export interface LostSpan {
  readonly off: number;
  readonly len: number;
  readonly reason: string;
}

export interface LossEvents {
  /** The disk refused a write at `off`: the start of a loss episode (once per episode). */
  readonly onLoss: (err: unknown, loss: { off: number; reason: string }) => void;
  /** Writing works again: `lost` is the episode's whole span, now marked in the index. */
  readonly onResume: (lost: LostSpan) => void;
}

export class LossEpisodes {
  /** The episode under way: where it began, why, when the disk was last tried. */
  private loss: { off: number; reason: string; triedAt: number } | null = null;
  private lostTotal = 0;
  /**
   * After a resume, until the first line record is written: where the bytes on disk begin again, and
   * the bytes since (a line begun in the lost span is cut to them; see recordsFrom).
   */
  private trim: { from: number; chunks: Buffer[] } | null = null;

  constructor(
    private readonly disk: SegmentFiles,
    private readonly events: LossEvents,
  ) {}

  /** Whether an episode is under way (the writer is degraded). */
  get active(): boolean {
    return this.loss !== null;
  }

  /** Why writes fail, while an episode is under way; null while the capture is whole. */
  get reason(): string | null {
    return this.loss?.reason ?? null;
  }

  /** Bytes the disk refused since start-up (their offsets count; their bytes are gone). */
  get lostBytes(): number {
    return this.lostTotal;
  }

  /** The span lost so far in the episode under way, up to `written`, or null. */
  current(written: number): LostSpan | null {
    return this.loss ? { off: this.loss.off, len: written - this.loss.off, reason: this.loss.reason } : null;
  }

  /** The disk refused the write of the bytes from `off`: the episode begins (files already truncated back). */
  begin(off: number, err: unknown): void {
    const reason = (err as NodeJS.ErrnoException | null)?.code ?? "EIO";
    this.loss = { off, reason, triedAt: Date.now() };
    this.trim = null;
    this.events.onLoss(err, { off, reason });
  }

  /** `length` bytes of the stream did not reach the disk. */
  count(length: number): void {
    this.lostTotal += length;
  }

  /**
   * Tries the disk again for a batch starting at `start` (at most every RETRY_MS): closes what is left
   * of the segment the loss cut short and opens a new one at `start`. Returns the span lost, whose gap
   * record follows the new segment's header, or null to stay degraded.
   */
  reopen(start: number): LostSpan | null {
    const loss = this.loss;
    if (!loss) return null;
    const now = Date.now();
    if (now - loss.triedAt < RETRY_MS) return null;
    loss.triedAt = now;
    try {
      if (this.disk.holdsBytes) this.disk.seal();
      this.disk.openActive(start);
    } catch {
      return null;
    }
    return { off: loss.off, len: start - loss.off, reason: loss.reason };
  }

  /**
   * The index bytes of a batch of `chunks` from `start` with `records`: after a resume (`lost`), the
   * new segment's header and the gap first; records of lines begun in the lost span are cut.
   */
  indexFor(
    records: Buffer,
    chunks: readonly Buffer[],
    start: number,
    lost: LostSpan | null,
    nextSeq: () => number,
  ): Buffer {
    let index = records;
    if (lost) {
      const ts = new Date().toISOString();
      const header = formatRecord({ kind: "segment", ts, off: start, nextSeq: nextSeq() });
      const gap = formatRecord({ kind: "gap", ts, off: lost.off, len: lost.len, reason: lost.reason });
      this.trim = { from: start, chunks: [] };
      index = Buffer.from(header + gap);
    }
    const trim = this.trim;
    if (trim) {
      // Records made after the resume can still begin in the lost span (a rotation splits a read).
      trim.chunks.push(...chunks);
      const kept = recordsFrom(records, trim.from, trim.chunks);
      index = lost ? Buffer.concat([index, kept]) : kept;
      if (kept.includes('"seq":')) this.trim = null;
    }
    return index;
  }

  /** The retry's write was refused too: the same episode goes on. */
  retryRefused(): void {
    this.trim = null;
  }

  /** The first batch after a loss is on disk: the episode is over. */
  resumed(lost: LostSpan): void {
    this.loss = null;
    this.disk.dropMarker();
    this.events.onResume(lost);
  }
}

export function recordsFrom(records: Buffer, start: number, chunks: readonly Buffer[]): Buffer {
  if (records.length === 0) return records;
  const bytes = Buffer.concat(chunks);
  const out: string[] = [];
  for (const line of records.toString("utf8").split("\n")) {
    if (line === "") continue;
    const r = parseRecord(line);
    if (r?.kind !== "line") {
      out.push(`${line}\n`);
      continue;
    }
    const end = r.off + r.len;
    if (r.off >= start) out.push(`${line}\n`);
    else if (end > start) out.push(formatRecord(cut(r, start, end, bytes)));
  }
  return Buffer.from(out.join(""));
}

/** The record `r` (lines r.seq.. ending at `end`) cut to start at `start`; `bytes` begin at `start`. */
function cut(r: LineRecord, start: number, end: number, bytes: Buffer): LineRecord {
  let kept = 0;
  for (let lf = bytes.indexOf(0x0a); lf !== -1 && lf < end - start; lf = bytes.indexOf(0x0a, lf + 1))
    kept += 1;
  // A partial record (no LF) keeps its one line.
  if (r.partial) kept = 1;
  const dropped = r.lines - kept;
  let ts = r.ts;
  let dt = "";
  if (r.dt !== "") {
    // The first line kept gives the record its ts; the lines after it keep their dt.
    let units = 0;
    for (let i = 1; i <= dropped; i += 1) units += parseInt(r.dt[i] ?? "0", 36);
    ts = new Date(Date.parse(r.ts) + units * 10).toISOString();
    if (kept > 1) dt = `0${r.dt.slice(dropped + 1)}`;
  }
  return {
    kind: "line",
    seq: r.seq + dropped,
    ts,
    off: start,
    len: end - start,
    lines: kept,
    partial: r.partial,
    dt,
  };
}
