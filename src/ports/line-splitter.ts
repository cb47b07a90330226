/**
 * Splits a byte stream into lines at LF, remembering where each line starts in the capture file.
 * Bytes only: decoding happens once per line, never per chunk (a UTF-8 character may straddle reads).
 * A line without its LF yet (a shell prompt) is handed out by flushPartial() after a short idle.
 */
export interface SplitLine {
  readonly bytes: Buffer;
  /** Byte offset of the line's first byte in the capture stream. */
  readonly offset: number;
  /** True when the line was cut at an idle pause rather than at LF. */
  readonly partial: boolean;
}

const LF = 0x0a;
/**
 * A line longer than this is handed out in pieces (marked partial): a target that floods without a
 * newline cannot grow the daemon's memory, and a `match` pattern never runs over a huge string.
 */
export const MAX_LINE_BYTES = 8192;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private pendingOffset: number;

  /** @param offset capture-stream offset of the next byte pushed */
  constructor(offset: number) {
    this.pendingOffset = offset;
  }

  push(chunk: Buffer): SplitLine[] {
    const lines: SplitLine[] = [];
    let start = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, start)) {
      const piece = chunk.subarray(start, lf + 1);
      const bytes = this.pendingLength === 0 ? piece : joined([...this.pending, piece]);
      lines.push({ bytes, offset: this.pendingOffset, partial: false });
      this.pendingOffset += bytes.length;
      this.pending = [];
      this.pendingLength = 0;
      start = lf + 1;
    }
    if (start < chunk.length) {
      this.pending.push(chunk.subarray(start));
      this.pendingLength += chunk.length - start;
    }
    while (this.pendingLength >= MAX_LINE_BYTES) lines.push(this.cutLongLine());
    return lines;
  }

  private cutLongLine(): SplitLine {
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : joined(this.pending);
    const bytes = all.subarray(0, MAX_LINE_BYTES);
    const rest = all.subarray(MAX_LINE_BYTES);
    const line = { bytes, offset: this.pendingOffset, partial: true };
    this.pendingOffset += bytes.length;
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingLength = rest.length;
    return line;
  }

  hasPartial(): boolean {
    return this.pendingLength > 0;
  }

  flushPartial(): SplitLine | null {
    if (this.pendingLength === 0) return null;
    const bytes = this.pending.length === 1 ? (this.pending[0] as Buffer) : joined(this.pending);
    const line = { bytes, offset: this.pendingOffset, partial: true };
    this.pendingOffset += bytes.length;
    this.pending = [];
    this.pendingLength = 0;
    return line;
  }
}

/**
 * The pieces of a line in one buffer of its own. Not Buffer.concat: below 4 KiB that allocates from
 * Node's shared pool, and the line log keeps a line's buffer, which would pin the whole 8 KiB slab
 * (and whatever else was allocated from it) for as long as the line is retained.
 */
function joined(pieces: readonly Buffer[]): Buffer {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  const out = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for (const piece of pieces) at += piece.copy(out, at);
  return out;
}

/** The text of a line: UTF-8 with invalid bytes replaced, without its CR/LF ending. */
export function lineText(bytes: Buffer): string {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === LF || bytes[end - 1] === 0x0d)) end -= 1;
  return bytes.toString("utf8", 0, end);
}
