/**
 * Writes a port's capture files: raw bytes and index records go to their fds in arrival order, one
 * write as soon as the previous one returns (what arrived meanwhile goes in a single writev; small
 * writes are synchronous, see SYNC_WRITE_MAX_BYTES), so at most one write's worth of bytes is ever
 * held only in memory. An idle writer starts its first write
 * once the loop's current I/O callbacks are done (setImmediate): the disk write never runs between a
 * received line and the request waiting for it, and a burst of chunks goes out in one writev.
 *
 *   append(chunk) ─┐                                        ┌─> <id>.raw            (active segment)
 *   index(text) ───┼─> ops, in order ─> one at a time ──────┼─> <id>.index.jsonl
 *   read(offset) ──┘   (rotation and reads are ops too)     └─> rename to <id>.raw.<first offset>,
 *                                                               delete the oldest past maxTotalBytes
 *
 * A segment closes at exactly rotateBytes (a chunk is split across the boundary). Retention keeps the
 * closed segments plus a full active one within maxTotalBytes of raw bytes; every deletion is
 * reported through onDeleted and recorded in the new index's header. Reads run as an op only to open
 * the files they need, so a rename or deletion cannot pull a file out from under them.
 */
import { openSync, writeSync, writevSync } from "node:fs";
import { rename, unlink } from "node:fs/promises";
import { closeFd, writeAsync, writevAsync } from "./fd-io.js";
import { openRange, readOpened, type CaptureSlice } from "./capture-reads.js";
import {
  closedSegmentFiles,
  type ActiveSegment,
  type CaptureFiles,
  type Segment,
} from "./capture-segments.js";
import { IndexRecords } from "./index-records.js";

export interface RotationPolicy {
  /** A segment is closed when it holds this many bytes. */
  readonly rotateBytes: number;
  /** Closed segments plus the active one stay within this many raw bytes. */
  readonly maxTotalBytes: number;
}

export interface SegmentsDeleted {
  readonly segments: number;
  readonly bytes: number;
  /** The oldest byte still on disk afterwards. */
  readonly firstRetained: number;
}

export interface WriterEvents {
  readonly onDeleted: (deleted: SegmentsDeleted) => void;
  readonly onError: (err: unknown, doing: string) => void;
}

/**
 * Raw bytes and index lines queued between two tasks, written as one writev of the bytes and then one
 * write of the lines that point into them (so the index never runs ahead of the raw file on disk).
 * Appends join the newest batch rather than queueing an op each: at stream rates thousands of chunks
 * and lines arrive during one write. Only the newest batch is open; its index records are the ones in
 * `records` not yet taken.
 */
interface Batch {
  readonly kind: "batch";
  readonly chunks: Buffer[];
  /** The batch's index records, cut from `records` once the batch is closed (null while open). */
  index: Buffer | null;
}

type Op = Batch | { readonly kind: "task"; readonly run: () => Promise<void> };

/** How long an index record written with writeIndexSoon may wait for bytes to travel with. */
const SOON_MS = 50;

/**
 * Writes up to this size are made synchronously: copying a few KiB into the page cache takes
 * microseconds, while handing a write to libuv's thread pool costs two thread wake-ups (~0.2 ms of
 * CPU each on a small VM), which for a SysRq answer were two of the daemon's costliest steps. Bigger
 * batches (a flood) still go to the pool, so a slow disk never stalls the loop for long.
 */
const SYNC_WRITE_MAX_BYTES = 64 * 1024;

export class CaptureWriter {
  private readonly ops: Op[] = [];
  private readonly records = new IndexRecords();
  private draining = false;
  private soonTimer: NodeJS.Timeout | null = null;
  /** Bytes of the active segment, counting those still queued. */
  private activeBytes: number;
  /** Where the next appended byte goes; the active segment starts at appended - activeBytes. */
  private appended: number;
  /** Every byte before this offset has been handed to the kernel. */
  private written: number;
  private highestUnwritten = 0;
  /** First offset of the file currently named <id>.raw (changes when a rotate op runs). */
  private diskActiveFirst: number;

  readonly files: CaptureFiles;
  /** File descriptors of the active segment (opened synchronously: see ActiveSegment). */
  private raw: number;
  private index: number;

  private constructor(
    private readonly dir: string,
    private readonly portId: string,
    private readonly policy: RotationPolicy,
    private readonly events: WriterEvents,
    private readonly closed: Segment[],
    active: ActiveSegment,
  ) {
    this.files = active.files;
    this.raw = active.raw;
    this.index = active.index;
    this.diskActiveFirst = active.first;
    this.activeBytes = active.size;
    this.appended = active.first + active.size;
    this.written = this.appended;
  }

  /** A writer appending to the active segment its caller found and opened (openWriter in capture.ts). */
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
    writer.enqueue({ kind: "task", run: () => writer.enforceTotal().then((d) => writer.report(d)) });
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

  /** Appends stream bytes; `nextSeq` is recorded in the header of any segment this opens. */
  append(chunk: Buffer, nextSeq: () => number): void {
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

  /** Appends a line (ending in \n) to the active segment's index. */
  writeIndex(text: string): void {
    this.batch();
    this.records.text(text);
  }

  /**
   * Appends an index line that need not be written at once: it joins the next bytes' write (within
   * SOON_MS at most). A BREAK mark is one: written on its own it was a disk write (two thread wake-ups)
   * between the key and the kernel's answer, which arrives a few ms later anyway.
   */
  writeIndexSoon(text: string): void {
    this.records.text(text);
    if (this.ops.at(-1)?.kind === "batch" || this.soonTimer) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = null;
      if (!this.records.empty) this.batch();
    }, SOON_MS);
  }

  /**
   * Appends the index record of `count` lines received together (see index-records.ts): the first's
   * seq, where the first starts in the stream and how long they are together.
   */
  indexLines(seq: number, ts: string, off: number, len: number, count: number, partial: boolean): void {
    this.batch();
    this.records.lines(seq, ts, off, len, count, partial);
  }

  /** Up to maxLength bytes from `offset` (default: the oldest retained byte), across segments. */
  async read(offset: number | undefined, maxLength: number): Promise<CaptureSlice> {
    const opened = await this.task(() => openRange(this.segmentsOnDisk(), offset, maxLength));
    return readOpened(opened);
  }

  /** Writes everything queued, then closes both files. */
  async close(): Promise<void> {
    if (this.soonTimer) clearTimeout(this.soonTimer);
    this.soonTimer = null;
    await this.task(() => this.closeFiles());
  }

  private push(chunk: Buffer): void {
    this.activeBytes += chunk.length;
    this.appended += chunk.length;
    this.batch().chunks.push(chunk);
  }

  /** The batch new bytes and lines join: the newest op if it is one that has not started, else a new one. */
  private batch(): Batch {
    const last = this.ops.at(-1);
    if (last?.kind === "batch") return last;
    const batch: Batch = { kind: "batch", chunks: [], index: null };
    this.enqueue(batch);
    return batch;
  }

  private rotate(nextSeq: number): void {
    const first = this.appended - this.activeBytes;
    const next = this.appended;
    this.activeBytes = 0;
    this.enqueue({ kind: "task", run: () => this.rotateOnDisk(first, next, nextSeq) });
  }

  private async rotateOnDisk(first: number, next: number, nextSeq: number): Promise<void> {
    const names = closedSegmentFiles(this.dir, this.portId, first);
    try {
      await this.closeFiles();
      await rename(this.files.raw, names.raw);
      await rename(this.files.index, names.index);
      this.closed.push({ file: names.raw, first, size: next - first });
    } catch (err) {
      this.events.onError(err, "closing a capture segment");
    }
    this.raw = openSync(this.files.raw, "a");
    this.index = openSync(this.files.index, "a");
    this.diskActiveFirst = next;
    const deleted = await this.enforceTotal();
    const header = {
      segment: true,
      ts: new Date().toISOString(),
      off: next,
      nextSeq,
      ...(deleted.segments > 0 ? { deleted: { segments: deleted.segments, bytes: deleted.bytes } } : {}),
    };
    await writeAsync(this.index, Buffer.from(`${JSON.stringify(header)}\n`));
    this.report(deleted);
  }

  /**
   * Closes both descriptors and forgets them (-1), so a later write fails with EBADF rather than land
   * in whatever file the kernel gives the freed number to next.
   */
  private async closeFiles(): Promise<void> {
    const [raw, index] = [this.raw, this.index];
    this.raw = -1;
    this.index = -1;
    await Promise.all([closeFd(raw), closeFd(index)]);
  }

  /** Deletes the oldest closed segments until they and a full active segment fit maxTotalBytes. */
  private async enforceTotal(): Promise<SegmentsDeleted> {
    let total = this.closed.reduce((sum, s) => sum + s.size, 0);
    let segments = 0;
    let bytes = 0;
    for (;;) {
      const oldest = this.closed[0];
      if (!oldest || total + this.policy.rotateBytes <= this.policy.maxTotalBytes) break;
      this.closed.shift();
      total -= oldest.size;
      segments += 1;
      bytes += oldest.size;
      const index = closedSegmentFiles(this.dir, this.portId, oldest.first).index;
      await unlink(oldest.file).catch((err: unknown) => this.events.onError(err, "deleting a segment"));
      await unlink(index).catch(() => undefined);
    }
    return { segments, bytes, firstRetained: this.closed[0]?.first ?? this.diskActiveFirst };
  }

  private report(deleted: SegmentsDeleted): void {
    if (deleted.segments > 0) this.events.onDeleted(deleted);
  }

  /** The retained segments, oldest first, the active one last with the bytes handed to the kernel. */
  private segmentsOnDisk(): Segment[] {
    const active = this.diskActiveFirst;
    return [...this.closed, { file: this.files.raw, first: active, size: this.written - active }];
  }

  /** Runs `run` as an op, after everything queued before it. */
  private task<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: "task", run: () => run().then(resolve, reject) });
    });
  }

  private enqueue(op: Op): void {
    this.closeBatch();
    // Records held by writeIndexSoon go before a task (a rotation, a close), in a batch of their own.
    if (op.kind === "task" && !this.records.empty) {
      this.ops.push({ kind: "batch", chunks: [], index: this.records.take() });
    }
    this.ops.push(op);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      for (let op = this.ops.shift(); op; op = this.ops.shift()) {
        if (op.kind === "task") {
          await op.run().catch((err: unknown) => this.events.onError(err, "maintaining the capture files"));
          continue;
        }
        // Only the newest batch is open (null index): its records are all those not yet taken.
        const index = op.index ?? this.records.take();
        if (op.chunks.length > 0) await this.writeRaw(op.chunks);
        if (index.length > 0) await this.writeIndexBytes(index);
      }
    } finally {
      // Synchronous with the loop's last check: an op enqueued from now on starts a new drain.
      this.draining = false;
    }
  }

  private async writeRaw(chunks: Buffer[]): Promise<void> {
    const length = chunks.reduce((sum, c) => sum + c.length, 0);
    try {
      if (length <= SYNC_WRITE_MAX_BYTES) writevSync(this.raw, chunks);
      else await writevAsync(this.raw, chunks);
    } catch (err) {
      this.events.onError(err, "writing the capture bytes");
    }
    // Offsets stay those of the stream even if a write failed (disk full): the index keeps its meaning.
    this.written += length;
  }

  /** The open batch is the newest op; once anything follows it (or its write starts) it is closed. */
  private closeBatch(): void {
    const last = this.ops.at(-1);
    if (last?.kind === "batch" && last.index === null) last.index = this.records.take();
  }

  private async writeIndexBytes(bytes: Buffer): Promise<void> {
    try {
      if (bytes.length <= SYNC_WRITE_MAX_BYTES) writeSync(this.index, bytes);
      else await writeAsync(this.index, bytes);
    } catch (err) {
      this.events.onError(err, "writing the capture index");
    }
  }
}
