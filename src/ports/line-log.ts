/**
 * The in-memory tail of a port's console lines, numbered by `seq`, for GET /ports/:id/log:
 * a bounded ring plus long-poll waiters ("wait until a line matching X arrives").
 *
 * Lines are kept as the bytes the capture received and decoded to text when first read (a query, a
 * waiter's pattern): at stream rates most lines are never read, and decoding each one eagerly, then
 * holding ten thousand strings for the collector to copy and sweep, cost more than the rest of the
 * capture path together. The ring is columns (a line's buffer, where in it, its time), not an object
 * per line, so appending a line allocates nothing. The buffers are those the capture received, which
 * the lines partition, so the ring holds about as much memory as its text would.
 *
 *   slot:   source (ArrayBuffer of the chunk, or the text once decoded) | byteOffset | length | ts
 */
import { lineText } from "./line-splitter.js";

export interface LogLine {
  readonly seq: number;
  /** Wall-clock receive time, ISO 8601. */
  readonly ts: string;
  readonly text: string;
}

export interface LogPage {
  readonly lines: LogLine[];
  readonly next: number;
}

interface Waiter {
  readonly since: number;
  readonly match: RegExp | null;
  readonly resolve: () => void;
}

export class LineLog {
  // One column per field, `size` slots used; slot (head + k) % size holds the k-th oldest line.
  private readonly sources: (ArrayBufferLike | string)[] = [];
  private readonly offsets: number[] = [];
  private readonly lengths: number[] = [];
  private readonly times: string[] = [];
  private head = 0;
  private nextSeq: number;
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly capacity: number,
    firstSeq: number,
  ) {
    this.nextSeq = firstSeq;
  }

  get next(): number {
    return this.nextSeq;
  }

  /**
   * Appends a line, its text or its bytes as received (with its LF if any): line[start, end), by
   * default all of it. Returns its seq.
   */
  append(ts: string, line: Buffer | string, start = 0, end = line.length): number {
    const seq = this.nextSeq;
    this.nextSeq += 1;
    const source = typeof line === "string" ? line.slice(start, end) : line.buffer;
    const offset = typeof line === "string" ? 0 : line.byteOffset + start;
    const length = end - start;
    if (this.sources.length < this.capacity) {
      this.sources.push(source);
      this.offsets.push(offset);
      this.lengths.push(length);
      this.times.push(ts);
    } else {
      const slot = this.head;
      this.sources[slot] = source;
      this.offsets[slot] = offset;
      this.lengths[slot] = length;
      this.times[slot] = ts;
      this.head = (slot + 1) % this.capacity;
    }
    if (this.waiters.size > 0) {
      for (const waiter of this.waiters) {
        if (seq >= waiter.since && (!waiter.match || waiter.match.test(this.text(seq)))) waiter.resolve();
      }
    }
    return seq;
  }

  /** The text of a retained line (decoded on first use, then kept); "" if it is no longer retained. */
  text(seq: number): string {
    if (seq < this.oldestSeq() || seq >= this.nextSeq) return "";
    const slot = this.slot(seq);
    const source = this.sources[slot] as ArrayBufferLike | string;
    if (typeof source === "string") return source;
    const text = lineText(Buffer.from(source, this.offsets[slot], this.lengths[slot]));
    this.sources[slot] = text;
    return text;
  }

  private oldestSeq(): number {
    return this.nextSeq - this.sources.length;
  }

  private slot(seq: number): number {
    return (this.head + (seq - this.oldestSeq())) % this.sources.length;
  }

  /** Lines with seq >= since (the oldest retained if since is absent or older), at most limit. */
  query(since: number | undefined, limit: number, match: RegExp | null = null): LogPage {
    const from = Math.max(since ?? 0, this.oldestSeq());
    const lines: LogLine[] = [];
    let seq = from;
    for (; seq < this.nextSeq && lines.length < limit; seq += 1) {
      const text = this.text(seq);
      if (!match || match.test(text)) lines.push({ seq, ts: this.times[this.slot(seq)] as string, text });
    }
    return { lines, next: seq };
  }

  /** Resolves true when a line with seq >= since (matching `match`) exists, false after waitMs or abort. */
  waitFor(since: number, match: RegExp | null, waitMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.query(since, 1, match).lines.length > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (found: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
        resolve(found);
      };
      const onAbort = (): void => finish(false);
      const waiter: Waiter = { since, match, resolve: () => finish(true) };
      const timer = setTimeout(() => finish(false), waitMs);
      this.waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
