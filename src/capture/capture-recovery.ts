/**
 * Finding a port's capture again at start-up: its segments, offset and next line seq, and what the
 * last daemon left unfinished. A `kill -9` can land between a batch's raw write and its index write,
 * or while a line waits for its LF (a prompt, `M43` of `M4310`): those bytes are in the raw file
 * without a record, and the next daemon's first line would read as their continuation. They get
 * records now: the complete lines one record, what follows the last LF one partial record, so the
 * next read starts a line of its own.
 */
import { closeSync, fstatSync, readSync, statSync } from "node:fs";
import { withFileForReading } from "./fd-io.js";
import {
  activeSegmentStart,
  captureFiles,
  closedSegmentFiles,
  findClosedSegments,
  IndexFile,
  nextSeqInIndex,
  openForAppend,
} from "./capture-segments.js";
import { CaptureWriter, type RotationPolicy, type WriterEvents } from "./capture-writer.js";

/** What start-up found and opened: the writer, the next line seq, what to record before anything else. */
interface Opened {
  readonly writer: CaptureWriter;
  readonly seq: number;
  /** The disk refused to open the files for writing (read-only): the capture starts degraded. */
  readonly refused: unknown;
  /** The span between the last bytes kept and where the stream had got (a restart while degraded). */
  readonly hole: { off: number; len: number } | null;
  /** The raw file's end, and how far its index accounts for it. */
  readonly covered: number;
}

/** Opens the port's files where a previous run left them: segments, offset and next line seq. */
export function openWriter(
  dir: string,
  portId: string,
  options: { readonly rotation: RotationPolicy; readonly dirNames?: readonly string[] | undefined },
  events: WriterEvents,
): Opened {
  const files = captureFiles(dir, portId);
  const found = findClosedSegments(dir, portId, options.dirNames);
  // Opened once each, for good: what start-up reads comes from the descriptors the writer appends to.
  let raw = -1;
  let index: IndexFile;
  let refused: unknown = null;
  try {
    raw = openForAppend(files.raw, "a");
    index = IndexFile.openActive(files.index);
  } catch (err) {
    if (raw >= 0) closeSync(raw);
    raw = -1;
    refused = err;
    index = IndexFile.openReadOnly(files.index);
  }
  const activeFirst = activeSegmentStart(index, found);
  const activeSize =
    raw >= 0 ? fstatSync(raw).size : (statSync(files.raw, { throwIfNoEntry: false })?.size ?? 0);
  // Empty closed segments are markers of how far a degraded stream got: they count for the start only.
  const closed = found.filter((s) => s.size > 0);
  const newest = closed.at(-1);
  const seq =
    index.nextSeq() ??
    (newest ? nextSeqInIndex(closedSegmentFiles(dir, portId, newest.first).index) : null) ??
    0;
  const held = newest ? newest.first + newest.size : 0;
  const hole =
    index.size === 0 && activeSize === 0 && activeFirst > held
      ? { off: held, len: activeFirst - held }
      : null;
  const covered = Math.max(activeFirst, index.coveredEnd() ?? activeFirst);
  if (refused !== null && index.fd >= 0) closeSync(index.fd);
  const writer = CaptureWriter.open(dir, portId, options.rotation, events, closed, {
    files,
    raw,
    index: refused === null ? index.fd : -1,
    first: activeFirst,
    size: activeSize,
    indexSize: index.size,
  });
  return { writer, seq, refused, hole, covered };
}

/** Records for the bytes a killed daemon wrote without them; returns the next line seq. */
export function recordTail(
  writer: CaptureWriter,
  file: string,
  first: number,
  covered: number,
  seq: number,
): number {
  if (covered >= writer.end) return seq;
  const tail = unrecordedTail(file, first, covered, seq);
  if (!tail) return seq;
  let next = seq;
  for (const r of tail.records) {
    writer.indexLines(r.seq, tail.ts, r.off, r.len, r.lines, r.partial);
    next = r.seq + r.lines;
  }
  return next;
}

/** The most unrecorded bytes looked at (a batch the daemon died writing is far smaller). */
const MAX_TAIL_BYTES = 8 * 1024 * 1024;

export interface TailRecord {
  readonly seq: number;
  readonly off: number;
  readonly len: number;
  readonly lines: number;
  readonly partial: boolean;
}

export interface UnrecordedTail {
  readonly records: TailRecord[];
  /** When the raw file was last written: the records' time. */
  readonly ts: string;
}

/**
 * Records for the raw file's bytes from stream offset `covered` to its end (`first` is the file's
 * first offset), numbered from `seq`; null when there are none (or too many to be a lost batch).
 */
export function unrecordedTail(
  file: string,
  first: number,
  covered: number,
  seq: number,
): UnrecordedTail | null {
  return withFileForReading(file, (fd) => {
    const stat = fstatSync(fd);
    const from = covered - first;
    const length = stat.size - from;
    if (from < 0 || length <= 0 || length > MAX_TAIL_BYTES) return null;
    const bytes = Buffer.alloc(length);
    const read = readSync(fd, bytes, 0, length, from);
    return { records: recordsOf(bytes.subarray(0, read), covered, seq), ts: stat.mtime.toISOString() };
  });
}

function recordsOf(bytes: Buffer, off: number, seq: number): TailRecord[] {
  const records: TailRecord[] = [];
  let lines = 0;
  let end = 0;
  for (let lf = bytes.indexOf(0x0a); lf !== -1; lf = bytes.indexOf(0x0a, lf + 1)) {
    lines += 1;
    end = lf + 1;
  }
  if (lines > 0) records.push({ seq, off, len: end, lines, partial: false });
  if (end < bytes.length) {
    records.push({ seq: seq + lines, off: off + end, len: bytes.length - end, lines: 1, partial: true });
  }
  return records;
}
