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
 * reads synchronously: each asynchronous call is a hop through libuv's thread pool, and with 256
 * ports the dozen small reads per port cost more in hops than in reading (about 300 ms of start-up).
 */
import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

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
    if (size !== undefined) found.push({ file, first: Number(digits), size });
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

/** Up to `length` bytes of a file from `position` (negative: from the end), or null when it is missing. */
function readPart(file: string, length: number, position: number): Buffer | null {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const from = position < 0 ? Math.max(0, size + position) : position;
    const buffer = Buffer.alloc(Math.min(length, Math.max(0, size - from)));
    const bytesRead = readSync(fd, buffer, 0, buffer.length, from);
    return buffer.subarray(0, bytesRead);
  } finally {
    closeSync(fd);
  }
}

/** The first line of a file (up to 4 KiB), or "" when there is none. */
function firstLine(file: string): string {
  const text = readPart(file, 4096, 0)?.toString("utf8") ?? "";
  const lf = text.indexOf("\n");
  return lf === -1 ? text : text.slice(0, lf);
}

/**
 * Absolute offset of the active segment's first byte: its index header says so; a crash between the
 * renames of a rotation can leave a stale header, so the end of the newest closed segment wins when
 * it is further on. A capture from before rotation existed has neither and starts at 0.
 */
export function activeSegmentStart(files: CaptureFiles, closed: readonly Segment[]): number {
  const header = /^\{"segment":true,[^\n]*?"off":(\d+)/.exec(firstLine(files.index));
  const fromHeader = header ? Number(header[1]) : 0;
  const last = closed.at(-1);
  return Math.max(fromHeader, last ? last.first + last.size : 0);
}

/** The next line seq recorded at the end of an index file (its last 64 KiB), or null when it records none. */
export function nextSeqInIndex(file: string): number | null {
  const tail = readPart(file, 64 * 1024, -64 * 1024);
  if (!tail) return null;
  for (const line of tail.toString("utf8").split("\n").reverse()) {
    // A line record covers "lines" lines from seq (one when it says nothing, as in older captures).
    const seq = /^\{"seq":(\d+),/.exec(line);
    if (seq) return Number(seq[1]) + Number(/"lines":(\d+)/.exec(line)?.[1] ?? 1);
    // BREAK marks and segment headers carry the seq the next line will get.
    const next = /"nextSeq":(\d+)/.exec(line);
    if (next) return Number(next[1]);
  }
  return null;
}

/** The pieces of `segments` that hold [offset, offset + length), in order. */
export function piecesOf(
  segments: readonly Segment[],
  offset: number,
  length: number,
): { file: string; position: number; length: number }[] {
  const end = offset + length;
  const pieces: { file: string; position: number; length: number }[] = [];
  for (const segment of segments) {
    const from = Math.max(offset, segment.first);
    const to = Math.min(end, segment.first + segment.size);
    if (to > from) pieces.push({ file: segment.file, position: from - segment.first, length: to - from });
  }
  return pieces;
}
