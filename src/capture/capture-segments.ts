/**
 * Where a port's capture lives on disk, and how to find it again after a restart.
 *
 *   <id>.raw                       the active segment: the newest bytes, appended to
 *   <id>.index.jsonl               its line index; first record {"segment":true,"off":<first byte>,...}
 *   <id>.raw.<first offset>        closed segments, named by the absolute offset of their first byte
 *   <id>.index.jsonl.<first off>   (16 digits, zero-padded so `ls` sorts them); never renumbered
 *
 * Offsets are absolute positions in the port's byte stream since its capture began: rotation and
 * retention never change what an offset means. The suffix after "<id>.raw." is digits only, so no
 * other port's files (ids may contain dots) can be mistaken for a segment.
 *
 * Finding a capture again happens once per port at start-up, before the daemon serves anything, and
 * reads synchronously: a thread-pool hop per small read costs more than the read (see
 * docs/performance.md).
 */
import { fchmodSync, fstatSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import { withFileForReading } from "./fd-io.js";
import path from "node:path";
import { coveredEndOf, nextSeqAfter, segmentHeaderOffset } from "./index-format.js";

export interface CaptureFiles {
  /** The active segment. */
  readonly raw: string;
  /** The active segment's line index. */
  readonly index: string;
}

/** A stretch of the byte stream held in one file. */
export interface Segment {
  readonly file: string;
  /** Absolute offset of the file's first byte. */
  readonly first: number;
  readonly size: number;
  /** Bytes of its index file (counted toward maxTotalBytes with the raw ones). */
  readonly indexSize?: number;
}

/**
 * The active segment as start-up found it, its files open: descriptors opened synchronously, for the
 * same reason as the reads (see docs/performance.md).
 */
export interface ActiveSegment {
  readonly files: CaptureFiles;
  /** Descriptors open for appending to the raw bytes and to the index; -1 when they could not be. */
  readonly raw: number;
  readonly index: number;
  /** Absolute offset of the segment's first byte, its size and its index's. */
  readonly first: number;
  readonly size: number;
  readonly indexSize: number;
}

/** Capture files are the target's console: readable by the daemon's user only, like the audit log. */
export const CAPTURE_FILE_MODE = 0o600;
export const CAPTURE_DIR_MODE = 0o700;

/** Opens `file` for appending (creating it 0600), and takes away what a file made before 0600 allowed. */
export function openForAppend(file: string, flags: "a" | "a+"): number {
  const fd = openSync(file, flags, CAPTURE_FILE_MODE);
  if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, CAPTURE_FILE_MODE);
  return fd;
}

const OFFSET_DIGITS = 16;

export function captureFiles(dir: string, portId: string): CaptureFiles {
  return { raw: path.join(dir, `${portId}.raw`), index: path.join(dir, `${portId}.index.jsonl`) };
}

/** The names a segment starting at `first` takes once it is closed. */
export function closedSegmentFiles(dir: string, portId: string, first: number): CaptureFiles {
  const suffix = String(first).padStart(OFFSET_DIGITS, "0");
  const active = captureFiles(dir, portId);
  return { raw: `${active.raw}.${suffix}`, index: `${active.index}.${suffix}` };
}

/** The closed raw segments of a port on disk, oldest first; `names` is the directory's listing if read already. */
export function findClosedSegments(
  dir: string,
  portId: string,
  names: readonly string[] = listCaptureDir(dir),
): Segment[] {
  const prefix = `${portId}.raw.`;
  const found: Segment[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const digits = name.slice(prefix.length);
    if (!/^\d+$/.test(digits)) continue;
    const file = path.join(dir, name);
    const size = statSync(file, { throwIfNoEntry: false })?.size;
    if (size === undefined) continue;
    const index = statSync(path.join(dir, `${portId}.index.jsonl.${digits}`), { throwIfNoEntry: false });
    found.push({ file, first: Number(digits), size, indexSize: index?.size ?? 0 });
  }
  return found.sort((a, b) => a.first - b.first);
}

/** The file names in a capture directory (none if it does not exist yet). */
export function listCaptureDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Up to `length` bytes of an open file of `size` bytes from `position` (negative: from the end). */
function readPart(fd: number, size: number, length: number, position: number): Buffer {
  const from = position < 0 ? Math.max(0, size + position) : position;
  const buffer = Buffer.alloc(Math.min(length, Math.max(0, size - from)));
  if (buffer.length === 0) return buffer;
  return buffer.subarray(0, readSync(fd, buffer, 0, buffer.length, from));
}

/**
 * An index file opened once for what start-up needs from it: its first line and its last seq. The
 * active segment's descriptor is the one the writer then appends to, so finding a capture again
 * costs an open and an fstat per file, and reads only when there is something to read.
 */
export class IndexFile {
  private constructor(
    readonly fd: number,
    readonly size: number,
  ) {}

  /** Opens (creating) the active index for appending and reading. */
  static openActive(file: string): IndexFile {
    const fd = openForAppend(file, "a+");
    return new IndexFile(fd, fstatSync(fd).size);
  }

  /** Opens the active index for reading only (the filesystem refuses writes), or as empty if absent. */
  static openReadOnly(file: string): IndexFile {
    try {
      const fd = openSync(file, "r");
      return new IndexFile(fd, fstatSync(fd).size);
    } catch {
      return new IndexFile(-1, 0);
    }
  }

  /** The first line (up to 4 KiB), or "" when there is none. */
  firstLine(): string {
    const text = readPart(this.fd, this.size, 4096, 0).toString("utf8");
    const lf = text.indexOf("\n");
    return lf === -1 ? text : text.slice(0, lf);
  }

  /**
   * The next line seq recorded at the end (its last 64 KiB), or null when it records none. The last
   * 4 KiB are read first: they hold a line record unless restarts left a run of gap records.
   */
  nextSeq(): number | null {
    if (this.size === 0) return null;
    const near = nextSeqIn(readPart(this.fd, this.size, 4096, -4096));
    return near ?? (this.size > 4096 ? nextSeqIn(readPart(this.fd, this.size, 64 * 1024, -64 * 1024)) : null);
  }

  /**
   * Offset just past the last byte the index accounts for (a line record's end, a mark's offset), from
   * its last 64 KiB; null when it records none there. Bytes the raw file holds beyond it were written
   * by a daemon that died before their records.
   */
  coveredEnd(): number | null {
    if (this.size === 0) return null;
    const tail = readPart(this.fd, this.size, 64 * 1024, -64 * 1024)
      .toString("utf8")
      .split("\n");
    let end: number | null = null;
    // The first line of the tail may be cut; records are in stream order, so the last few decide.
    for (const line of tail
      .slice(this.size > 64 * 1024 ? 1 : 0)
      .reverse()
      .slice(0, 64)) {
      const at = coveredEndOf(line);
      if (at !== null) end = Math.max(end ?? 0, at);
    }
    return end;
  }
}

/**
 * Absolute offset of the active segment's first byte: its index header says so; a crash between the
 * renames of a rotation can leave a stale header, so the end of the newest closed segment wins when
 * it is further on. A capture from before rotation existed has neither and starts at 0.
 */
export function activeSegmentStart(index: IndexFile, closed: readonly Segment[]): number {
  const fromHeader = segmentHeaderOffset(index.firstLine()) ?? 0;
  const last = closed.at(-1);
  return Math.max(fromHeader, last ? last.first + last.size : 0);
}

/** The next line seq recorded at the end of a closed index file (its last 64 KiB), or null when it records none. */
export function nextSeqInIndex(file: string): number | null {
  return withFileForReading(file, (fd) => nextSeqIn(readPart(fd, fstatSync(fd).size, 64 * 1024, -64 * 1024)));
}

/** The next line seq the last seq-bearing record of `tail` gives (its first line may be cut). */
function nextSeqIn(tail: Buffer): number | null {
  for (const line of tail.toString("utf8").split("\n").reverse()) {
    const next = nextSeqAfter(line);
    if (next !== null) return next;
  }
  return null;
}
