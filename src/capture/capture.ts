/**
 * A port's console capture: every received byte, in order, whether or not a request is running.
 *
 *   chunk ──> CaptureWriter ──> <id>.raw (+ closed segments <id>.raw.<offset>)  byte for byte
 *         └─> LineSplitter ──> <id>.index.jsonl   {seq, ts, off, len, lines} per read's lines; gaps
 *                          │                       {gap, ts, reason}; BREAKs sent {break, ts, off, nextSeq}
 *                          └─> LineLog (GET /log)  and line listeners (the SysRq verdict watcher)
 *
 * Offsets are absolute in the port's stream and survive rotation (see capture-segments.ts). Gaps
 * (disconnects, restarts) are marked in the index, never in the raw bytes. A partial line (a prompt)
 * is indexed after PARTIAL_IDLE_MS without further bytes.
 *
 * The lines one read completes arrived at the same instant: they share one timestamp and one index
 * record (index-format.ts has the format), which a reader splits at LF. While a listener follows the
 * lines (a SysRq sequence), each line's record is written before the listener hears of it, so what
 * the listener then marks (a BREAK) follows the line in the index.
 */
import { mkdirSync } from "node:fs";
import type { Logger } from "pino";
import { CAPTURE_DIR_MODE, type CaptureFiles } from "./capture-segments.js";
import type { CaptureSlice } from "./capture-reads.js";
import { openWriter, recordTail } from "./capture-recovery.js";
import type { CaptureWriter, RotationPolicy, WriterEvents } from "./capture-writer.js";
import { LineLog } from "./line-log.js";
import { LineBatch, type LineObserver, type StreamAction } from "./line-batch.js";
import { LineSplitter, type LineSink } from "./line-splitter.js";

export { captureFiles, type CaptureFiles } from "./capture-segments.js";
export type { CaptureSlice } from "./capture-reads.js";
export type { RotationPolicy } from "./capture-writer.js";

export const PARTIAL_IDLE_MS = 100;

/**
 * Reads less than this apart share one index record and its `ts`: at stream rates a record per read
 * made the index 5-8 times the size of short lines. Reads further apart can still share a record,
 * which then says when each line came in units of this (its `dt`, one character a line), so a line
 * every 10 ms costs a byte of index, not a record (see index-format.ts).
 */
export const COALESCE_MS = 10;
/** The longest pause one `dt` character can say (35 units, "z"); a longer one ends the record. */
export const MAX_DT_UNITS = 35;
/** The longest a record's reads may span: sharing one `ts`, or with a `dt`; the most lines one holds. */
export const MAX_RECORD_SPAN_MS = 1000;
const MAX_DT_RECORD_SPAN_MS = 60_000;
const MAX_RECORD_LINES = 16_384;

export interface CapturedLine {
  readonly seq: number;
  readonly text: string;
  /** Monotonic receive time (performance.now()) of the chunk that completed the line. */
  readonly at: number;
}

export type { LineObserver, StreamAction } from "./line-batch.js";

export interface CaptureOptions {
  readonly retainLines: number;
  readonly rotation: RotationPolicy;
  /** The port's logger: rotation deletions are warned about here. */
  readonly log: Logger;
  /**
   * The capture directory's file names, when the caller opening many captures has made sure the
   * directory exists and listed it once.
   */
  readonly dirNames?: readonly string[];
}

/** Whether every byte read is reaching the disk: `degraded` while writes fail (reason: the error code). */
export interface CaptureHealth {
  readonly status: "ok" | "degraded";
  readonly reason?: string;
  /** Bytes read from the wire but not stored, since the daemon started (their offsets are gaps). */
  readonly lostBytes: number;
}

export interface CaptureStats {
  /** Segments and bytes rotation deleted since the daemon started (offsets before the first retained). */
  readonly deletedSegments: number;
  readonly deletedBytes: number;
  readonly maxUnwrittenBytes: number;
}

/** `dt` characters: units of COALESCE_MS, 0 to MAX_DT_UNITS. */
const DT_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz";

export class Capture {
  private readonly listeners = new Set<(line: CapturedLine) => void>();
  /** An array, replaced on change: iterating a Set per line cost the capture path more than the call. */
  private observers: readonly LineObserver[] = [];
  /** The lines of the read being split, for the observers (handed over once the read is split). */
  private readonly batch = new LineBatch();
  private partialTimer: NodeJS.Timeout | null = null;
  private runTimer: NodeJS.Timeout | null = null;
  /** Monotonic receive times of the open record's first and latest reads. */
  private runFirstAt = 0;
  private runLastAt = 0;
  private lastActivity = 0;

  private deletedSegments = 0;
  private deletedBytes = 0;
  private readonly rotationListeners = new Set<(firstRetained: number) => void>();

  /** When the lines being split arrived: ISO text (made on the first line of a read) and monotonic. */
  private receivedTs: string | null = null;
  private receivedAt = 0;
  /** The lines received so far in this read and not yet indexed: the first's seq and offset, how many. */
  private readonly run = { seq: 0, ts: "", off: 0, len: 0, lines: 0, dt: "" };
  /** Monotonic time the open record's `dt` has reached, and the units its next line is after the last. */
  private runUnitAt = 0;
  private pendingUnits = 0;
  private readonly sink: LineSink = {
    line: (source, start, end, offset, partial) => this.received(source, start, end, offset, partial),
  };

  private constructor(
    private readonly writer: CaptureWriter,
    private readonly splitter: LineSplitter,
    readonly lines: LineLog,
  ) {}

  static async open(dir: string, portId: string, options: CaptureOptions): Promise<Capture> {
    if (!options.dirNames) mkdirSync(dir, { recursive: true, mode: CAPTURE_DIR_MODE });
    let capture: Capture | null = null;
    const log = options.log;
    const events: WriterEvents = {
      onDeleted: ({ segments, bytes, firstRetained }) => {
        if (capture) {
          capture.deletedSegments += segments;
          capture.deletedBytes += bytes;
          for (const listener of capture.rotationListeners) listener(firstRetained);
        }
        log.warn(
          { deleted: { segments, bytes }, firstRetained, maxTotalBytes: options.rotation.maxTotalBytes },
          "capture: rotation deleted the oldest segments to stay within maxTotalBytes",
        );
      },
      onError: (err, doing) => log.error({ err }, `capture: failed ${doing}`),
      // One line per episode: a full disk refuses every write, thousands a second.
      onLoss: (err, loss) =>
        log.error(
          { err, capture: loss },
          "capture: the disk refuses writes; bytes are lost (marked as a gap) until it takes them again",
        ),
      onResume: (lost) => log.warn({ capture: { lost } }, "capture: writing again; the lost span is marked"),
    };
    const opened = openWriter(dir, portId, options, events);
    const { writer, hole } = opened;
    const seq = recordTail(writer, writer.files.raw, writer.activeFirst, opened.covered, opened.seq);
    capture = new Capture(writer, new LineSplitter(writer.end), new LineLog(options.retainLines, seq));
    if (opened.refused !== null) writer.refuse(opened.refused);
    if (hole) capture.markLost(hole.off, hole.len, "not written before a restart");
    if (writer.end > 0 || seq > 0) capture.markGap("capture reopened (daemon restart)");
    return capture;
  }

  /** The active segment's files (older bytes are in closed segments beside them). */
  get files(): CaptureFiles {
    return this.writer.files;
  }

  /** Offset just past the last captured byte: the stream's length since the capture began. */
  get size(): number {
    return this.writer.end;
  }

  /** What rotation deleted since start-up, and the most bytes ever waiting in memory for the disk. */
  get stats(): CaptureStats {
    return {
      deletedSegments: this.deletedSegments,
      deletedBytes: this.deletedBytes,
      maxUnwrittenBytes: this.writer.maxUnwrittenBytes,
    };
  }

  /** The oldest byte still on disk: offsets before it were rotated away (maxTotalBytes). */
  get firstRetained(): number {
    return this.writer.firstRetained;
  }

  /** Calls `listener` with the new firstRetained each time rotation deletes segments; returns the unsubscribe. */
  onRotated(listener: (firstRetained: number) => void): () => void {
    this.rotationListeners.add(listener);
    return () => this.rotationListeners.delete(listener);
  }

  /** Reads back up to maxLength bytes from `offset` (default: the oldest retained), across segments. */
  read(offset: number | undefined, maxLength: number): Promise<CaptureSlice> {
    return this.writer.read(offset, maxLength);
  }

  lastActivityAt(): number {
    return this.lastActivity;
  }

  observe(observer: LineObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  /** Tells observers of something the daemon sent that the target will answer (a key, an NMI). */
  noteAction(action: StreamAction): void {
    const at = performance.now();
    for (const observer of this.observers) observer.action(action, at);
  }

  onLine(listener: (line: CapturedLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(chunk: Buffer, at: number): void {
    this.lastActivity = at;
    const run = this.run;
    if (run.lines > 0) {
      // Once a record says when its lines came, every read's time counts (to the nearest unit).
      const timed = run.dt !== "" || at - this.runLastAt >= COALESCE_MS;
      const units = timed ? Math.round((at - this.runUnitAt) / COALESCE_MS) : 0;
      // A record also ends where a segment does, so each segment's index holds the lines ended in it.
      if (
        this.pendingUnits + units > MAX_DT_UNITS ||
        at - this.runFirstAt >= (run.dt === "" ? MAX_RECORD_SPAN_MS : MAX_DT_RECORD_SPAN_MS) ||
        run.lines >= MAX_RECORD_LINES ||
        this.writer.rotatesWith(chunk.length)
      ) {
        this.indexRun();
      } else if (units > 0) {
        // The first read this far from the last: the record's lines so far all came at its ts.
        if (run.dt === "") run.dt = "0".repeat(run.lines);
        this.runUnitAt += units * COALESCE_MS;
        this.pendingUnits += units;
      }
    }
    this.writer.append(chunk, () => this.lines.next);
    this.receivedTs = null;
    this.receivedAt = at;
    this.splitter.push(chunk, this.sink);
    this.batch.flush(this.observers);
    if (this.run.lines > 0) {
      this.runLastAt = at;
      this.runTimer ??= this.armRunTimer();
    }
    if (this.splitter.hasPartial()) this.armPartialTimer();
    else this.stopPartialTimer(); // the line is whole: nothing left for the timer to index
  }

  /** The open record's timer: it is written once no read could join it any more. */
  private armRunTimer(): NodeJS.Timeout {
    const lastAt = this.runLastAt;
    return setTimeout(
      () => {
        this.runTimer = null;
        if (this.run.lines === 0) return;
        if (this.runLastAt === lastAt) this.indexRun();
        else this.runTimer = this.armRunTimer();
      },
      (MAX_DT_UNITS + 1) * COALESCE_MS,
    );
  }

  private armPartialTimer(): void {
    if (this.partialTimer) this.partialTimer.refresh();
    else {
      this.partialTimer = setTimeout(() => {
        this.partialTimer = null;
        this.flushPartial();
      }, PARTIAL_IDLE_MS);
    }
  }

  private stopPartialTimer(): void {
    if (this.partialTimer === null) return;
    clearTimeout(this.partialTimer);
    this.partialTimer = null;
  }

  private flushPartial(): void {
    if (!this.splitter.hasPartial()) return;
    this.receivedTs = null;
    this.receivedAt = performance.now();
    this.splitter.flushPartial(this.sink);
    this.batch.flush(this.observers);
  }

  private received(source: Buffer, start: number, end: number, offset: number, partial: boolean): void {
    const ts = (this.receivedTs ??= new Date().toISOString());
    const seq = this.lines.append(ts, source, start, end);
    const run = this.run;
    if (partial) {
      this.indexRun();
      this.writer.indexLines(seq, ts, offset, end - start, 1, true);
    } else if (run.lines === 0) {
      this.runFirstAt = this.receivedAt;
      this.runUnitAt = this.receivedAt;
      run.seq = seq;
      run.ts = ts;
      run.off = offset;
      run.len = end - start;
      run.lines = 1;
      run.dt = "";
    } else {
      run.len += end - start;
      run.lines += 1;
      if (run.dt !== "") run.dt += DT_DIGITS[this.pendingUnits] ?? "0";
    }
    this.pendingUnits = 0;
    if (this.observers.length > 0)
      this.batch.add(this.observers, seq, source, start, end, offset, this.receivedAt);
    if (this.listeners.size === 0) return;
    this.indexRun();
    // Decoded only while someone follows the lines (a sequence waiting for the kernel's answer).
    const captured = { seq, text: this.lines.text(seq), at: this.receivedAt };
    for (const listener of this.listeners) listener(captured);
  }

  /** Writes the index record of the lines received so far and not yet indexed. */
  private indexRun(): void {
    const run = this.run;
    if (run.lines === 0) return;
    this.writer.indexLines(run.seq, run.ts, run.off, run.len, run.lines, false, run.lines > 1 ? run.dt : "");
    run.lines = 0;
    if (this.runTimer === null) return;
    clearTimeout(this.runTimer); // its record is written: the timer would only wake the daemon
    this.runTimer = null;
  }

  /**
   * Records a BREAK sent to the target at this point of the stream, so the index shows what the
   * console printed before and after each one.
   */
  markBreak(): void {
    this.noteAction({ kind: "break" });
    this.indexRun();
    this.writer.writeMarkSoon({
      kind: "break",
      ts: new Date().toISOString(),
      off: this.size,
      nextSeq: this.lines.next,
    });
  }

  /** Whether every byte read reaches the disk, and how many did not since start-up. */
  get health(): CaptureHealth {
    const reason = this.writer.lossReason;
    const lostBytes = this.writer.lostBytes;
    return reason === null ? { status: "ok", lostBytes } : { status: "degraded", reason, lostBytes };
  }

  /** Records a span of the stream whose bytes are not on disk, and why. */
  private markLost(off: number, len: number, reason: string): void {
    this.writer.writeMark({ kind: "gap", ts: new Date().toISOString(), off, len, reason });
  }

  /** Records a gap (no bytes could arrive) in the index; the raw file stays pure console bytes. */
  markGap(reason: string): void {
    this.indexRun();
    this.flushPartial();
    const at = performance.now();
    for (const observer of this.observers) observer.gap(at);
    this.writer.writeMark({ kind: "gap", ts: new Date().toISOString(), off: this.size, reason });
  }

  async close(): Promise<void> {
    this.stopPartialTimer();
    if (this.runTimer) clearTimeout(this.runTimer);
    this.runTimer = null;
    this.indexRun();
    this.flushPartial();
    await this.writer.close();
  }
}
