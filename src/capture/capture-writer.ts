/**
 * Writes a port's capture files: raw bytes and index records go to their fds in arrival order, one
 * write as soon as the previous one returns (what arrived meanwhile goes in a single writev; small
 * writes are synchronous, see segment-files.ts), so at most one write's worth of bytes is ever
 * held only in memory. An idle writer starts its first write once the loop's current I/O callbacks
 * are done (setImmediate): the disk write never runs between a received line and the request waiting
 * for it, and a burst of chunks goes out in one writev.
 *
 *   append(chunk) ─┐                                        ┌─> <id>.raw            (active segment)
 *   indexLines, ───┼─> ops, in order ─> one at a time ──────┼─> <id>.index.jsonl
 *   writeMark      │
 *   read(offset) ──┘   (rotation and reads are ops too)     └─> rename to <id>.raw.<first offset>,
 *                                                               delete the oldest past maxTotalBytes
 *
 * The ops and their batches are write-queue.ts; this file decides what each write does to the files.
 *
 * A segment closes at exactly rotateBytes (a chunk is split across the boundary). Retention keeps the
 * closed segments plus a full active one within maxTotalBytes of raw bytes; every deletion is
 * reported through onDeleted and recorded in the new index's header. Reads run as an op only to open
 * the files they need, so a rename or deletion cannot pull a file out from under them.
 *
 * A write the disk refuses (ENOSPC, EROFS, EIO) loses its batch, never the offsets: the stream keeps
 * counting every byte read, the files are truncated back to their last whole write, the active segment
 * is closed where its bytes end, and the writer is degraded (one onLoss) until a retry (at most every
 * RETRY_MS, with the next bytes) can open a new segment at the offset of the bytes it then writes.
 * That segment's index starts with its header and `{gap, off, len, reason}` for the span lost between
 * (onResume; the episode is capture-loss.ts). While degraded, an empty marker file `<id>.raw.<offset>` (a closed segment of no bytes)
 * names how far the stream got, so a restart continues after it rather than reuse lost offsets.
 */
import { LossEpisodes, type LossEvents, type LostSpan } from "./capture-loss.js";
import { openRange, readOpened, type CaptureSlice } from "./capture-reads.js";
import type { ActiveSegment, CaptureFiles, Segment } from "./capture-segments.js";
import { formatRecord, IndexRecords, type MarkRecord } from "./index-format.js";
import {
  SegmentFiles,
  type ActiveSizes,
  type RotationPolicy,
  type SegmentsDeleted,
} from "./segment-files.js";
import { WriteQueue } from "./write-queue.js";

export type { RotationPolicy, SegmentsDeleted } from "./segment-files.js";
export { RETRY_MS, type LostSpan } from "./capture-loss.js";

export interface WriterEvents extends LossEvents {
  readonly onDeleted: (deleted: SegmentsDeleted) => void;
  readonly onError: (err: unknown, doing: string) => void;
}

/** How long an index record written with writeMarkSoon may wait for bytes to travel with. */
const SOON_MS = 50;

export class CaptureWriter {
  private readonly records = new IndexRecords();
  private readonly queue: WriteQueue = new WriteQueue(this.records, {
    writeBatch: (chunks, index) => this.writeBatch(chunks, index),
    onTaskError: (err) => this.events.onError(err, "maintaining the capture files"),
  });
  private soonTimer: NodeJS.Timeout | null = null;
  /** Bytes of the active segment, counting those still queued. */
  private activeBytes: number;
  /** Where the next appended byte goes; the active segment starts at appended - activeBytes. */
  private appended: number;
  /** Every byte before this offset has been handed to the kernel, or lost. */
  private written: number;
  /** Writes the disk refuses: the episode under way, and the bytes lost since start-up. */
  private readonly losses: LossEpisodes;
  /** The seq the next line gets (the latest append's), for the header of a segment a resume opens. */
  private nextSeq: () => number = () => 0;
  private highestUnwritten = 0;
  /** The files on disk: the active segment's (changed when a rotate op runs) and the closed ones. */
  private readonly disk: SegmentFiles;

  private constructor(
    dir: string,
    portId: string,
    private readonly policy: RotationPolicy,
    private readonly events: WriterEvents,
    closed: Segment[],
    active: ActiveSegment,
  ) {
    this.disk = new SegmentFiles(dir, portId, closed, active);
    this.losses = new LossEpisodes(this.disk, events);
    this.activeBytes = active.size;
    this.appended = active.first + active.size;
    this.written = this.appended;
  }

  /** The active segment's files (older bytes are in closed segments beside them). */
  get files(): CaptureFiles {
    return this.disk.files;
  }

  /** A writer appending to the active segment its caller found and opened (capture-recovery.ts). */
  static open(
    dir: string,
    portId: string,
    policy: RotationPolicy,
    events: WriterEvents,
    closed: Segment[],
    active: ActiveSegment,
  ): CaptureWriter {
    const writer = new CaptureWriter(dir, portId, policy, events, closed, active);
    // A smaller limit than last time applies at once.
    writer.queue.add(() => writer.enforceTotal().then((d) => writer.report(d)));
    return writer;
  }

  /** Offset just past the last appended byte (queued or written). */
  get end(): number {
    return this.appended;
  }

  /** Most bytes ever held only in memory (appended, not yet handed to the kernel): what a kill -9 risks. */
  get maxUnwrittenBytes(): number {
    return this.highestUnwritten;
  }

  /** The oldest byte still on disk (offsets before it were rotated away). */
  get firstRetained(): number {
    return this.disk.firstRetained;
  }

  /** Offset of the active segment's first byte on disk. */
  get activeFirst(): number {
    return this.disk.activeFirst;
  }

  /** The files could not even be opened for writing (read-only at start-up): degraded from here. */
  refuse(err: unknown): void {
    this.losses.begin(this.written, err);
  }

  /** Bytes the disk refused since start-up (their offsets count; their bytes are gone). */
  get lostBytes(): number {
    return this.losses.lostBytes;
  }

  /** Why writes fail, while a loss episode is under way; null while the capture is whole. */
  get lossReason(): string | null {
    return this.losses.reason;
  }

  /** The span lost so far in the episode under way (to the newest byte handled), or null. */
  get currentLoss(): LostSpan | null {
    return this.losses.current(this.written);
  }

  /** Whether appending `length` more bytes closes the active segment. */
  rotatesWith(length: number): boolean {
    return this.activeBytes + length >= this.policy.rotateBytes;
  }

  /** Appends stream bytes; `nextSeq` is recorded in the header of any segment this opens. */
  append(chunk: Buffer, nextSeq: () => number): void {
    this.nextSeq = nextSeq;
    let rest = chunk;
    for (;;) {
      const room = Math.max(0, this.policy.rotateBytes - this.activeBytes);
      if (rest.length < room) break;
      if (room > 0) this.push(rest.subarray(0, room));
      rest = rest.subarray(room);
      this.rotate(nextSeq());
    }
    if (rest.length > 0) this.push(rest);
    this.highestUnwritten = Math.max(this.highestUnwritten, this.appended - this.written);
  }

  /** Appends a BREAK or gap record to the active segment's index. */
  writeMark(record: MarkRecord): void {
    this.batch();
    this.records.mark(record);
  }

  /**
   * Appends a record that need not be written at once: it joins the next bytes' write (within
   * SOON_MS at most). A BREAK mark is one: written on its own it was a disk write (two thread wake-ups)
   * between the key and the kernel's answer, which arrives a few ms later anyway. Whatever opens a
   * batch first carries it and stops the timer (a wake-up per SysRq request otherwise).
   */
  writeMarkSoon(record: MarkRecord): void {
    this.records.mark(record);
    if (this.queue.batchOpen || this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      if (!this.records.empty) this.queue.batch();
    }, SOON_MS);
  }

  /**
   * Appends the index record of `count` lines received together (see index-format.ts): the first's
   * seq, where the first starts in the stream and how long they are together.
   */
  indexLines(
    seq: number,
    ts: string,
    off: number,
    len: number,
    count: number,
    partial: boolean,
    dt = "",
  ): void {
    this.batch();
    this.records.lines(seq, ts, off, len, count, partial, dt);
  }

  /** Up to maxLength bytes from `offset` (default: the oldest retained byte), across segments. */
  async read(offset: number | undefined, maxLength: number): Promise<CaptureSlice> {
    const opened = await this.queue.task(() =>
      openRange(this.disk.onDisk(), offset, maxLength, this.currentLoss),
    );
    return readOpened(opened);
  }

  /** Writes everything queued, then closes both files. */
  async close(): Promise<void> {
    this.cancelSoon();
    await this.queue.task(async () => {
      if (this.losses.active) this.markLossEnd();
      await this.disk.close();
    });
  }

  private push(chunk: Buffer): void {
    this.activeBytes += chunk.length;
    this.appended += chunk.length;
    this.batch().push(chunk);
  }

  /** The open batch; the records writeMarkSoon holds travel with it, so their timer has no job left. */
  private batch(): Buffer[] {
    this.cancelSoon();
    return this.queue.batch();
  }

  private cancelSoon(): void {
    if (this.soonTimer === null) return;
    clearTimeout(this.soonTimer);
    this.soonTimer = null;
  }

  private rotate(nextSeq: number): void {
    this.activeBytes = 0;
    this.cancelSoon(); // a task takes the held records into a batch of its own (write-queue.ts)
    this.queue.add(() => this.rotateOnDisk(nextSeq));
  }

  /** Closes the active segment at the bytes written so far and opens the next one there. */
  private async rotateOnDisk(nextSeq: number): Promise<void> {
    // Degraded: the segment was closed when the loss began, and the resume opens the next one.
    if (this.losses.active) return;
    const next = this.written;
    try {
      this.disk.seal();
      this.disk.openActive(next);
    } catch (err) {
      this.losses.begin(next, err);
      this.markLossEnd();
      return;
    }
    const deleted = await this.enforceTotal();
    const header = formatRecord({
      kind: "segment",
      ts: new Date().toISOString(),
      off: next,
      nextSeq,
      ...(deleted.segments > 0 ? { deleted: { segments: deleted.segments, bytes: deleted.bytes } } : {}),
    });
    await this.writeIndexWhole(Buffer.from(header), next);
    this.report(deleted);
  }

  /** Names the stream's end on disk while degraded (see SegmentFiles.markEnd). */
  private markLossEnd(): void {
    this.disk.markEnd(this.written);
  }

  /** Deletes the oldest closed segments past maxTotalBytes (see SegmentFiles.enforceTotal). */
  private enforceTotal(): Promise<SegmentsDeleted> {
    return this.disk.enforceTotal(this.policy, (err, doing) => this.events.onError(err, doing));
  }

  private report(deleted: SegmentsDeleted): void {
    if (deleted.segments > 0) this.events.onDeleted(deleted);
  }

  /**
   * Writes a batch's bytes, then its records (so the index never runs ahead of the raw file): both
   * whole, or neither, and the batch's bytes are lost. Its offsets count either way.
   */
  private async writeBatch(chunks: Buffer[], records: Buffer): Promise<void> {
    const length = chunks.reduce((sum, c) => sum + c.length, 0);
    const start = this.written;
    this.written += length;
    let lost: LostSpan | null = null;
    if (this.losses.active) {
      lost = this.losses.reopen(start);
      if (!lost) {
        this.losses.count(length);
        if (length > 0) this.markLossEnd();
        return;
      }
    }
    const index = this.losses.indexFor(records, chunks, start, lost, this.nextSeq);
    const before = this.disk.sizes;
    try {
      await this.disk.append(chunks, length, index);
    } catch (err) {
      this.losses.count(length);
      if (lost) {
        // Still refused: the same episode goes on, the new files stay empty for the next try.
        this.disk.truncateTo({ raw: 0, index: 0 });
        this.losses.retryRefused();
        this.markLossEnd();
      } else this.fail(start, before, err);
      return;
    }
    if (lost) this.losses.resumed(lost);
  }

  /** Writes a record on its own (a segment header); if refused, the episode begins at `off`. */
  private async writeIndexWhole(bytes: Buffer, off: number): Promise<void> {
    const before = this.disk.sizes;
    try {
      await this.disk.appendIndex(bytes);
    } catch (err) {
      this.fail(off, before, err);
    }
  }

  /** A refused write: back to the last whole writes, the segment closed there, the episode begun. */
  private fail(off: number, before: ActiveSizes, err: unknown): void {
    this.disk.truncateTo(before);
    this.losses.begin(off, err);
    try {
      this.disk.seal();
    } catch {
      // Read-only: the files stay the active ones, and a resume closes them first (see reopen).
    }
    this.markLossEnd();
  }
}
