/**
 * The capture's files on disk as the writer leaves them: the active segment's two descriptors and how
 * many bytes their last whole writes left, the closed segments, and retention. The writer decides
 * what to write and when (capture-writer.ts); this only does it, synchronously where a failure must
 * not let another op run in between.
 *
 *   <id>.raw + <id>.index.jsonl  ──seal()──>  <id>.raw.<first> + <id>.index.jsonl.<first>
 *   openActive(first): new active files; enforceTotal(): the oldest closed segments deleted
 */
import { closeSync, openSync, renameSync, unlinkSync } from "node:fs";
import { unlink } from "node:fs/promises";
import {
  closedSegmentFiles,
  type ActiveSegment,
  type CaptureFiles,
  type Segment,
} from "./capture-segments.js";
import { closeFd, truncateBack, writeWhole } from "./fd-io.js";

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

/** Bytes in the active files on disk: what to truncate back to when a write is refused. */
export interface ActiveSizes {
  readonly raw: number;
  readonly index: number;
}

/**
 * Writes up to this size are made synchronously: copying a few KiB into the page cache takes
 * microseconds, while handing a write to libuv's thread pool costs two thread wake-ups (~0.2 ms of
 * CPU each on a small VM), which for a SysRq answer were two of the daemon's costliest steps. Bigger
 * batches (a flood) still go to the pool, so a slow disk never stalls the loop for long.
 */
const SYNC_WRITE_MAX_BYTES = 64 * 1024;

const FILE_MODE = 0o600;

export class SegmentFiles {
  /** File descriptors of the active segment (opened synchronously: see ActiveSegment); -1 when none. */
  private raw: number;
  private index: number;
  /** Bytes in the active files on disk (what their last whole writes left). */
  private rawSize: number;
  private indexSize: number;
  /** First offset of the file currently named <id>.raw. */
  private first: number;
  /** The empty `<id>.raw.<offset>` naming how far the stream got while the disk refused writes. */
  private marker: string | null = null;

  readonly files: CaptureFiles;

  constructor(
    private readonly dir: string,
    private readonly portId: string,
    private readonly closed: Segment[],
    active: ActiveSegment,
  ) {
    this.files = active.files;
    this.raw = active.raw;
    this.index = active.index;
    this.first = active.first;
    this.rawSize = active.size;
    this.indexSize = active.indexSize;
  }

  /** Offset of the active segment's first byte on disk. */
  get activeFirst(): number {
    return this.first;
  }

  /** Whether the active files hold anything (a segment to seal before opening the next). */
  get holdsBytes(): boolean {
    return this.rawSize + this.indexSize > 0;
  }

  get sizes(): ActiveSizes {
    return { raw: this.rawSize, index: this.indexSize };
  }

  /** Appends a batch: its bytes, then its records (so the index never runs ahead of the raw file). */
  async append(chunks: Buffer[], length: number, index: Buffer): Promise<void> {
    if (length > 0) await writeWhole(this.raw, chunks, length, length <= SYNC_WRITE_MAX_BYTES);
    this.rawSize += length;
    if (index.length > 0)
      await writeWhole(this.index, [index], index.length, index.length <= SYNC_WRITE_MAX_BYTES);
    this.indexSize += index.length;
  }

  /** Appends records on their own (a segment header), synchronously. */
  async appendIndex(bytes: Buffer): Promise<void> {
    await writeWhole(this.index, [bytes], bytes.length, true);
    this.indexSize += bytes.length;
  }

  /** Truncates the active files back to `sizes`, what a refused write left beyond them. */
  truncateTo(sizes: ActiveSizes): void {
    truncateBack(this.raw, sizes.raw);
    truncateBack(this.index, sizes.index);
    this.rawSize = sizes.raw;
    this.indexSize = sizes.index;
  }

  /** Opens new active files for the stream from `first` on (empty ones a failed try left are reused). */
  openActive(first: number): void {
    if (this.raw < 0) this.raw = openSync(this.files.raw, "a", FILE_MODE);
    if (this.index < 0) this.index = openSync(this.files.index, "a", FILE_MODE);
    this.first = first;
    this.rawSize = 0;
    this.indexSize = 0;
  }

  /**
   * Closes the active segment where its bytes on disk end: closes its files and renames them after
   * their first offset (synchronously: no op may run between a failure and the segment's end).
   * Throws when they cannot be renamed; holdsBytes then still says they hold a segment.
   */
  seal(): void {
    const first = this.first;
    const names = closedSegmentFiles(this.dir, this.portId, first);
    for (const fd of [this.raw, this.index]) if (fd >= 0) closeSync(fd);
    this.raw = -1;
    this.index = -1;
    renameSync(this.files.raw, names.raw);
    renameSync(this.files.index, names.index);
    this.closed.push({ file: names.raw, first, size: this.rawSize, indexSize: this.indexSize });
    this.rawSize = 0;
    this.indexSize = 0;
  }

  /**
   * Closes both descriptors and forgets them (-1), so a later write fails with EBADF rather than land
   * in whatever file the kernel gives the freed number to next.
   */
  async close(): Promise<void> {
    const [raw, index] = [this.raw, this.index];
    this.raw = -1;
    this.index = -1;
    await Promise.all([raw, index].filter((fd) => fd >= 0).map((fd) => closeFd(fd)));
  }

  /** Names the stream's end `written` on disk while degraded (renaming the marker: no space needed). */
  markEnd(written: number): void {
    if (this.holdsBytes) return;
    const name = closedSegmentFiles(this.dir, this.portId, written).raw;
    if (name === this.marker) return;
    try {
      if (this.marker) renameSync(this.marker, name);
      else closeSync(openSync(name, "a", FILE_MODE));
      this.marker = name;
    } catch {
      // Read-only: nothing can be named; a restart then continues where the bytes on disk end.
    }
  }

  /** The disk takes writes again: the marker of how far the stream got goes. */
  dropMarker(): void {
    if (!this.marker) return;
    try {
      unlinkSync(this.marker);
    } catch {
      // An empty segment left behind reads as nothing; the next marker or rotation replaces it.
    }
    this.marker = null;
  }

  /**
   * Deletes the oldest closed segments until they (raw and index) and a full active segment with an
   * index of a quarter of its size (the most COALESCE_MS lets it grow to for a stream of short
   * lines) fit maxTotalBytes.
   */
  async enforceTotal(
    policy: RotationPolicy,
    onError: (err: unknown, doing: string) => void,
  ): Promise<SegmentsDeleted> {
    const kept = (s: Segment) => s.size + (s.indexSize ?? 0);
    let total = this.closed.reduce((sum, s) => sum + kept(s), 0);
    const active = policy.rotateBytes + Math.ceil(policy.rotateBytes / 4);
    let segments = 0;
    let bytes = 0;
    for (;;) {
      const oldest = this.closed[0];
      if (!oldest || total + active <= policy.maxTotalBytes) break;
      this.closed.shift();
      total -= kept(oldest);
      segments += 1;
      bytes += oldest.size;
      const index = closedSegmentFiles(this.dir, this.portId, oldest.first).index;
      await unlink(oldest.file).catch((err: unknown) => onError(err, "deleting a segment"));
      await unlink(index).catch(() => undefined);
    }
    return { segments, bytes, firstRetained: this.closed[0]?.first ?? this.first };
  }

  /** The oldest byte still on disk: every offset before it was rotated away. */
  get firstRetained(): number {
    return this.closed[0]?.first ?? this.first;
  }

  /** The retained segments, oldest first, the active one last with the bytes handed to the kernel. */
  onDisk(): Segment[] {
    // Sealed after a loss: rawSize is 0, so the name (absent now) is never opened.
    return [...this.closed, { file: this.files.raw, first: this.first, size: this.rawSize }];
  }
}
