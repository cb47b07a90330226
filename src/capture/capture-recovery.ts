/**
 * What start-up finds the last daemon left unfinished. A `kill -9` can land between a batch's raw
 * write and its index write, or while a line waits for its LF (a prompt, `M43` of `M4310`): those bytes
 * are in the raw file without a record, and the next daemon's first line would read as their
 * continuation. They get records now: the complete lines one record, what follows the last LF one
 * partial record, so the next read starts a line of its own.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

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
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return null;
  }
  try {
    const stat = fstatSync(fd);
    const from = covered - first;
    const length = stat.size - from;
    if (from < 0 || length <= 0 || length > MAX_TAIL_BYTES) return null;
    const bytes = Buffer.alloc(length);
    const read = readSync(fd, bytes, 0, length, from);
    return { records: recordsOf(bytes.subarray(0, read), covered, seq), ts: stat.mtime.toISOString() };
  } finally {
    closeSync(fd);
  }
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
