/**
 * Reading a stretch of a port's byte stream back from its capture segments (the closed ones and the
 * active one). Opening the files is done as one of the writer's ops (see CaptureWriter.read), so a
 * rotation's rename or a retention's deletion cannot pull a file out from under a read; reading and
 * closing them happens afterwards, outside the queue.
 *
 * Segments need not touch: where one ends before the next begins (or the newest ends before the
 * stream does, while the disk refuses writes) the span between was lost. A read never crosses one:
 * starting inside, it is refused with the span; reaching one, it stops there.
 */
import { open, type FileHandle } from "node:fs/promises";
import type { Segment } from "./capture-segments.js";

/** Bytes read back from the capture, with where the retained stream starts and ends. */
export interface CaptureSlice {
  /** Oldest retained offset. */
  readonly start: number;
  /** Offset just past the newest byte on disk. */
  readonly end: number;
  /** Offset of data[0]; null when the requested offset lies outside [start, end] or in a lost span. */
  readonly offset: number | null;
  /** The lost span the requested offset lies in (nothing to read there), else null. */
  readonly lost: { readonly off: number; readonly len: number } | null;
  readonly data: Buffer;
}

/** The files holding a range, opened. */
export interface OpenedRange {
  readonly start: number;
  readonly end: number;
  readonly offset: number | null;
  readonly lost: { readonly off: number; readonly len: number } | null;
  readonly pieces: readonly {
    readonly handle: FileHandle;
    readonly position: number;
    readonly length: number;
  }[];
}

/**
 * Opens the files holding up to maxLength bytes from `offset` (default: the oldest retained byte).
 * `segments` are the retained segments oldest first, the active one last, sized to the bytes on disk;
 * `pending` is the span lost since the newest, while the disk still refuses writes.
 */
export async function openRange(
  segments: readonly Segment[],
  offset: number | undefined,
  maxLength: number,
  pending: { readonly off: number; readonly len: number } | null = null,
): Promise<OpenedRange> {
  const start = segments[0]?.first ?? pending?.off ?? 0;
  const end = segments.reduce((e, s) => Math.max(e, s.first + s.size), start);
  const from = offset ?? start;
  const lost = lostSpanAt(segments, from, pending);
  if (lost) return { start, end, offset: null, lost, pieces: [] };
  if (from < start || from > end) return { start, end, offset: null, lost: null, pieces: [] };
  const pieces = [];
  let at = from;
  const to = Math.min(end, from + maxLength);
  for (const segment of segments) {
    if (segment.size === 0 || segment.first + segment.size <= at) continue;
    // A lost span before this segment: the read stops where it begins.
    if (segment.first > at || at >= to) break;
    const length = Math.min(to, segment.first + segment.size) - at;
    pieces.push({ position: at - segment.first, length, handle: await open(segment.file, "r") });
    at += length;
  }
  return { start, end, offset: from, lost: null, pieces };
}

/** The lost span holding `offset`: between two segments' bytes, or after them (pending), else null. */
function lostSpanAt(
  segments: readonly Segment[],
  offset: number,
  pending: { readonly off: number; readonly len: number } | null,
): { off: number; len: number } | null {
  if (pending && offset >= pending.off && offset < pending.off + pending.len) return pending;
  let held: number | null = null;
  for (const segment of segments) {
    if (segment.size === 0) continue;
    if (held !== null && segment.first > held && offset >= held && offset < segment.first) {
      return { off: held, len: segment.first - held };
    }
    held = segment.first + segment.size;
  }
  // Past the last bytes held but before the stream's recorded end (an empty marker segment).
  const end = segments.reduce((e, s) => Math.max(e, s.first + s.size), 0);
  if (held !== null && offset >= held && offset < end) return { off: held, len: end - held };
  return null;
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
    const { start, end, offset, lost } = opened;
    return { start, end, offset, lost, data: data.subarray(0, at) };
  } finally {
    await Promise.all(opened.pieces.map((p) => p.handle.close()));
  }
}
