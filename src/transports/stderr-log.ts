/**
 * A child's stderr into the port's log: split into lines, each cut at MAX_LINE bytes, at most
 * LINES_PER_WINDOW lines per window (the rest counted and reported once). Memory stays at one line
 * however much the child writes; nothing of it reaches the capture. The window is the port's (one per
 * TransportLog, made once per port), not the child's: a program restarted over and over does not get
 * its 20 lines each time.
 */
import type { TransportLog } from "./transport.js";

const MAX_LINE = 512;
const LINES_PER_WINDOW = 20;
const WINDOW_MS = 10_000;

const perPort = new WeakMap<TransportLog, StderrLog>();

/** The port's stderr log, kept across its program's restarts. */
export function stderrLogOf(log: TransportLog, program: string): StderrLog {
  let stderr = perPort.get(log);
  if (!stderr) {
    stderr = new StderrLog(log, program);
    perPort.set(log, stderr);
  }
  return stderr;
}

export class StderrLog {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private windowStart = 0;
  private linesInWindow = 0;
  private dropped = 0;

  constructor(
    private readonly log: TransportLog,
    private readonly program: string,
    private readonly now: () => number = Date.now,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
      this.append(chunk.subarray(start, newline));
      this.emit();
      start = newline + 1;
    }
    this.append(chunk.subarray(start));
  }

  /** The child went away: its last unterminated line, and the count of lines not logged. */
  end(): void {
    if (this.partialBytes > 0) this.emit();
    this.reportDropped();
  }

  private append(part: Buffer): void {
    const room = MAX_LINE - this.partialBytes;
    if (room <= 0 || part.length === 0) return;
    const kept = part.subarray(0, room);
    this.partial.push(Buffer.from(kept)); // a copy: the chunk itself is not held
    this.partialBytes += kept.length;
  }

  private emit(): void {
    const line = Buffer.concat(this.partial).toString("utf8").replace(/\r$/, "");
    this.partial = [];
    this.partialBytes = 0;
    const now = this.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.reportDropped();
      this.windowStart = now;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= LINES_PER_WINDOW) {
      this.dropped += 1;
      return;
    }
    this.linesInWindow += 1;
    this.log.warn({ program: this.program, stderr: line }, "program stderr");
  }

  private reportDropped(): void {
    if (this.dropped === 0) return;
    this.log.warn(
      { program: this.program, droppedLines: this.dropped },
      `program stderr: ${this.dropped} lines not logged (over ${LINES_PER_WINDOW} per ${WINDOW_MS / 1000} s)`,
    );
    this.dropped = 0;
  }
}
