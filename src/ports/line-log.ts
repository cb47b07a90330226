/**
 * The in-memory tail of a port's console lines, numbered by `seq`, for GET /ports/:id/log:
 * a bounded ring plus long-poll waiters ("wait until a line matching X arrives").
 */
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
  private readonly ring: LogLine[] = [];
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

  append(ts: string, text: string): LogLine {
    const line = { seq: this.nextSeq, ts, text };
    this.nextSeq += 1;
    if (this.ring.length < this.capacity) this.ring.push(line);
    else {
      this.ring[this.head] = line;
      this.head = (this.head + 1) % this.capacity;
    }
    for (const waiter of this.waiters) {
      if (line.seq >= waiter.since && (!waiter.match || waiter.match.test(line.text))) waiter.resolve();
    }
    return line;
  }

  private oldestSeq(): number {
    return this.nextSeq - this.ring.length;
  }

  private at(seq: number): LogLine {
    const index = (this.head + (seq - this.oldestSeq())) % this.ring.length;
    return this.ring[index] as LogLine;
  }

  /** Lines with seq >= since (the oldest retained if since is absent or older), at most limit. */
  query(since: number | undefined, limit: number, match: RegExp | null = null): LogPage {
    const from = Math.max(since ?? 0, this.oldestSeq());
    const lines: LogLine[] = [];
    let seq = from;
    for (; seq < this.nextSeq && lines.length < limit; seq += 1) {
      const line = this.at(seq);
      if (!match || match.test(line.text)) lines.push(line);
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
