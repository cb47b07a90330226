/**
 * A port's console capture: every received byte, in order, whether or not a request is running.
 *
 *   chunk ──> <id>.raw       append-only, byte for byte (telnet already decoded)
 *         └─> LineSplitter ──> <id>.index.jsonl   {seq, ts, off, len} per line; gaps {gap, ts, reason};
 *                          │                       BREAKs sent {break, ts, off, nextSeq}
 *                          └─> LineLog (GET /log)  and line listeners (the SysRq verdict watcher)
 *
 * Gaps (disconnects, restarts) are marked in the index, never in the raw bytes. A partial line (a
 * prompt) is indexed after PARTIAL_IDLE_MS without further bytes.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import path from "node:path";
import { LineLog } from "./line-log.js";
import { LineSplitter, lineText, type SplitLine } from "./line-splitter.js";

export const PARTIAL_IDLE_MS = 100;

export interface CapturedLine {
  readonly seq: number;
  readonly text: string;
  /** Monotonic receive time (performance.now()) of the chunk that completed the line. */
  readonly at: number;
}

export interface CaptureFiles {
  readonly raw: string;
  readonly index: string;
}

export function captureFiles(dir: string, portId: string): CaptureFiles {
  return { raw: path.join(dir, `${portId}.raw`), index: path.join(dir, `${portId}.index.jsonl`) };
}

/** Where an existing capture left off: next seq and raw size, from the tail of the index. */
async function resumePoint(files: CaptureFiles): Promise<{ seq: number; offset: number }> {
  const rawSize = await stat(files.raw).then(
    (s) => s.size,
    () => 0,
  );
  let seq = 0;
  const handle = await open(files.index, "r").catch(() => null);
  if (handle) {
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const tail = Buffer.alloc(length);
      await handle.read(tail, 0, length, size - length);
      const lines = tail.toString("utf8").split("\n").reverse();
      for (const line of lines) {
        const m = /^\{"seq":(\d+),/.exec(line);
        if (m) {
          seq = Number(m[1]) + 1;
          break;
        }
      }
    } finally {
      await handle.close();
    }
  }
  return { seq, offset: rawSize };
}

export class Capture {
  private readonly listeners = new Set<(line: CapturedLine) => void>();
  private partialTimer: NodeJS.Timeout | null = null;
  private lastActivity = 0;

  private constructor(
    readonly files: CaptureFiles,
    private readonly raw: WriteStream,
    private readonly index: WriteStream,
    private readonly splitter: LineSplitter,
    readonly log: LineLog,
    private bytes: number,
  ) {}

  static async open(dir: string, portId: string, retainLines: number): Promise<Capture> {
    await mkdir(dir, { recursive: true });
    const files = captureFiles(dir, portId);
    const resume = await resumePoint(files);
    const raw = createWriteStream(files.raw, { flags: "a" });
    const index = createWriteStream(files.index, { flags: "a" });
    const capture = new Capture(
      files,
      raw,
      index,
      new LineSplitter(resume.offset),
      new LineLog(retainLines, resume.seq),
      resume.offset,
    );
    if (resume.offset > 0 || resume.seq > 0) capture.markGap("capture reopened (daemon restart)");
    return capture;
  }

  /** Total bytes in the raw capture. */
  get size(): number {
    return this.bytes;
  }

  lastActivityAt(): number {
    return this.lastActivity;
  }

  onLine(listener: (line: CapturedLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  append(chunk: Buffer, at: number): void {
    this.lastActivity = at;
    this.bytes += chunk.length;
    this.raw.write(chunk);
    const lines = this.splitter.push(chunk);
    if (lines.length > 0) {
      const ts = new Date().toISOString();
      for (const line of lines) this.emit(line, ts, at);
    }
    if (this.splitter.hasPartial()) this.armPartialTimer();
  }

  private armPartialTimer(): void {
    if (this.partialTimer) this.partialTimer.refresh();
    else {
      this.partialTimer = setTimeout(() => {
        this.partialTimer = null;
        this.flushPartial();
      }, PARTIAL_IDLE_MS);
    }
  }

  private flushPartial(): void {
    const line = this.splitter.flushPartial();
    if (line) this.emit(line, new Date().toISOString(), performance.now());
  }

  private emit(line: SplitLine, ts: string, at: number): void {
    const text = lineText(line.bytes);
    const { seq } = this.log.append(ts, text);
    this.index.write(
      `{"seq":${seq},"ts":"${ts}","off":${line.offset},"len":${line.bytes.length}${line.partial ? ',"partial":true' : ""}}\n`,
    );
    for (const listener of this.listeners) listener({ seq, text, at });
  }

  /**
   * Records a BREAK sent to the target at this point of the stream, so the index shows what the
   * console printed before and after each one.
   */
  markBreak(): void {
    this.index.write(
      `{"break":true,"ts":"${new Date().toISOString()}","off":${this.bytes},"nextSeq":${this.log.next}}\n`,
    );
  }

  /** Records a gap (no bytes could arrive) in the index; the raw file stays pure console bytes. */
  markGap(reason: string): void {
    this.flushPartial();
    this.index.write(
      `${JSON.stringify({ gap: true, ts: new Date().toISOString(), off: this.bytes, reason })}\n`,
    );
  }

  async close(): Promise<void> {
    if (this.partialTimer) clearTimeout(this.partialTimer);
    this.partialTimer = null;
    this.flushPartial();
    await Promise.all([endStream(this.raw), endStream(this.index)]);
  }
}

function endStream(stream: WriteStream): Promise<void> {
  return new Promise((resolve) => stream.end(() => resolve()));
}
