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
 */
import { open, readdir, stat } from "node:fs/promises";
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

/** The closed raw segments of a port on disk, oldest first. */
export async function findClosedSegments(dir: string, portId: string): Promise<Segment[]> {
  const prefix = `${portId}.raw.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: Segment[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const digits = name.slice(prefix.length);
    if (!/^\d+$/.test(digits)) continue;
    const file = path.join(dir, name);
    const size = await stat(file).then(
      (s) => s.size,
      () => null,
    );
    if (size !== null) found.push({ file, first: Number(digits), size });
  }
  return found.sort((a, b) => a.first - b.first);
}

/** The first line of a file (up to 4 KiB), or "" when there is none. */
async function firstLine(file: string): Promise<string> {
  const handle = await open(file, "r").catch(() => null);
  if (!handle) return "";
  try {
    const head = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const text = head.subarray(0, bytesRead).toString("utf8");
    const lf = text.indexOf("\n");
    return lf === -1 ? text : text.slice(0, lf);
  } finally {
    await handle.close();
  }
}

/**
 * Absolute offset of the active segment's first byte: its index header says so; a crash between the
 * renames of a rotation can leave a stale header, so the end of the newest closed segment wins when
 * it is further on. A capture from before rotation existed has neither and starts at 0.
 */
export async function activeSegmentStart(files: CaptureFiles, closed: readonly Segment[]): Promise<number> {
  const header = /^\{"segment":true,[^\n]*?"off":(\d+)/.exec(await firstLine(files.index));
  const fromHeader = header ? Number(header[1]) : 0;
  const last = closed.at(-1);
  return Math.max(fromHeader, last ? last.first + last.size : 0);
}

/** The next line seq recorded at the end of an index file, or null when it records none. */
export async function nextSeqInIndex(file: string): Promise<number | null> {
  const handle = await open(file, "r").catch(() => null);
  if (!handle) return null;
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, 64 * 1024);
    const tail = Buffer.alloc(length);
    await handle.read(tail, 0, length, size - length);
    for (const line of tail.toString("utf8").split("\n").reverse()) {
      const seq = /^\{"seq":(\d+),/.exec(line);
      if (seq) return Number(seq[1]) + 1;
      // BREAK marks and segment headers carry the seq the next line will get.
      const next = /"nextSeq":(\d+)/.exec(line);
      if (next) return Number(next[1]);
    }
    return null;
  } finally {
    await handle.close();
  }
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
