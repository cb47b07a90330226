/**
 * Splits a byte stream into lines at LF, remembering where each line starts in the capture file.
 * Bytes only: decoding happens once per line, never per chunk (a UTF-8 character may straddle reads).
 * A line without its LF yet (a shell prompt) is handed out by flushPartial() after a short idle.
 *
 * Lines go to a sink as a range of a buffer, not as an object or a view each: at stream rates there
 * are thousands of lines per MB, and most are never read. A line that arrived in one read is a range
 * of that read's buffer; one that arrived in pieces is joined into a buffer of its own.
 */
export interface LineSink {
  /**
   * A line: source[start, end), which begins at `offset` in the capture stream. `partial`: cut at an
   * idle pause or at MAX_LINE_BYTES rather than ended by its LF. Lines arrive in stream order, each
   * starting where the previous one ended.
   */
  line(source: Buffer, start: number, end: number, offset: number, partial: boolean): void;
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

  /** Hands every line `chunk` completes to `sink`: those ended by LF first, then any cut at MAX_LINE_BYTES. */
  push(chunk: Buffer, sink: LineSink): void {
    let start = 0;
    let lf = chunk.indexOf(LF);
    if (lf !== -1 && this.pendingLength > 0) {
      this.pending.push(chunk.subarray(0, lf + 1));
      const line = joined(this.pending);
      this.pending = [];
      this.pendingLength = 0;
      this.emit(sink, line, 0, line.length, false);
      start = lf + 1;
      lf = chunk.indexOf(LF, start);
    }
    for (; lf !== -1; lf = chunk.indexOf(LF, start)) {
      this.emit(sink, chunk, start, lf + 1, false);
      start = lf + 1;
    }
    if (start < chunk.length) {
      this.pending.push(start === 0 ? chunk : chunk.subarray(start));
      this.pendingLength += chunk.length - start;
    }
    while (this.pendingLength >= MAX_LINE_BYTES) this.cutLongLine(sink);
  }

  hasPartial(): boolean {
    return this.pendingLength > 0;
  }

  /** Hands out the line begun but not ended (a prompt), if any, as partial. */
  flushPartial(sink: LineSink): void {
    if (this.pendingLength === 0) return;
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : joined(this.pending);
    this.pending = [];
    this.pendingLength = 0;
    this.emit(sink, all, 0, all.length, true);
  }

  private cutLongLine(sink: LineSink): void {
    const all = this.pending.length === 1 ? (this.pending[0] as Buffer) : joined(this.pending);
    const rest = all.subarray(MAX_LINE_BYTES);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingLength = rest.length;
    this.emit(sink, all, 0, MAX_LINE_BYTES, true);
  }

  private emit(sink: LineSink, source: Buffer, start: number, end: number, partial: boolean): void {
    const offset = this.pendingOffset;
    this.pendingOffset += end - start;
    sink.line(source, start, end, offset, partial);
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
