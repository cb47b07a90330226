/**
 * Reading a stretch of a port's byte stream back from its capture segments (the closed ones and the
 * active one). Opening the files is done as one of the writer's ops (see CaptureWriter.read), so a
 * rotation's rename or a retention's deletion cannot pull a file out from under a read; reading and
 * closing them happens afterwards, outside the queue.
 */
import { open, type FileHandle } from "node:fs/promises";
import { piecesOf, type Segment } from "./capture-segments.js";

/** Bytes read back from the capture, with where the retained stream starts and ends. */
export interface CaptureSlice {
  /** Oldest retained offset. */
  readonly start: number;
  /** Offset just past the newest byte on disk. */
  readonly end: number;
  /** Offset of data[0]; null when the requested offset lies outside [start, end]. */
  readonly offset: number | null;
  readonly data: Buffer;
}

/** The files holding a range, opened. */
export interface OpenedRange {
  readonly start: number;
  readonly end: number;
  readonly offset: number | null;
  readonly pieces: readonly {
    readonly handle: FileHandle;
    readonly position: number;
    readonly length: number;
  }[];
}

/**
 * Opens the files holding up to maxLength bytes from `offset` (default: the oldest retained byte).
 * `segments` are the retained segments oldest first, the active one last, sized to the bytes on disk.
 */
export async function openRange(
  segments: readonly Segment[],
  offset: number | undefined,
  maxLength: number,
): Promise<OpenedRange> {
  const start = segments[0]?.first ?? 0;
  const last = segments.at(-1);
  const end = last ? last.first + last.size : start;
  const from = offset ?? start;
  if (from < start || from > end) return { start, end, offset: null, pieces: [] };
  const pieces = [];
  for (const piece of piecesOf(segments, from, Math.min(maxLength, end - from))) {
    pieces.push({ ...piece, handle: await open(piece.file, "r") });
  }
  return { start, end, offset: from, pieces };
}

/** Reads an opened range into one buffer, then closes its files. */
export async function readOpened(opened: OpenedRange): Promise<CaptureSlice> {
  try {
    const data = Buffer.alloc(opened.pieces.reduce((sum, p) => sum + p.length, 0));
    let at = 0;
    for (const piece of opened.pieces) {
      const { bytesRead } = await piece.handle.read(data, at, piece.length, piece.position);
      at += bytesRead;
    }
    return { start: opened.start, end: opened.end, offset: opened.offset, data: data.subarray(0, at) };
  } finally {
    await Promise.all(opened.pieces.map((p) => p.handle.close()));
  }
}
