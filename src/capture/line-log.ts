/**
 * The in-memory tail of a port's console lines, numbered by `seq`, for GET /ports/:id/log:
 * a bounded ring plus long-poll waiters ("wait until a line matching X arrives").
 *
 * Lines are kept as the bytes the capture received and decoded to text when first read (a query, a
 * waiter's pattern): at stream rates most lines are never read (see docs/performance.md). The ring is
 * columns (a line's buffer, where in it, its time), not an object per line, so appending a line
 * allocates nothing. The buffers are those the capture received, which the lines partition, so the
 * ring holds about as much memory as its text would.
 *
 *   slot:   source (ArrayBuffer of the chunk, or the text once decoded) | byteOffset | length | ts
 *
 * A `match` pattern never runs in `append` (the capture's path): a long-poll is woken by any new line
 * and scans for itself, in slices that yield to the event loop (user-regex.ts), as a query does.
 */
import { lineText } from "./line-splitter.js";
import { ScanClock, type UserRegex } from "./user-regex.js";

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

export interface ReadOptions {
  /**
   * The first seq wanted; absent: the oldest retained, or with waitMs the current end (a long-poll
   * answers only lines that arrive after it began). Past the current end: clamped to it.
   */
  readonly since?: number;
  readonly limit: number;
  readonly match?: UserRegex | null;
  /** Long-poll: first wait up to this long for a (matching) line at or after since (or the end). */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
  /** Matching time this read may spend; SCAN_BUDGET_MS unless a test says otherwise. */
  readonly budgetMs?: number;
}

/**
 * Matching time one read may spend in all (its slices, not its waits). A read that runs out answers
 * with the lines found so far and a `next` where the scan stopped, as a full page does.
 */
export const SCAN_BUDGET_MS = 2000;

export class LineLog {
  // One column per field, `size` slots used; slot (head + k) % size holds the k-th oldest line.
  private readonly sources: (ArrayBufferLike | string)[] = [];
  private readonly offsets: number[] = [];
  private readonly lengths: number[] = [];
  private readonly times: string[] = [];
  private head = 0;
  private nextSeq: number;
  /** Long-polls waiting for the next line; each is called once, then dropped. */
  private readonly waiters = new Set<() => void>();

  constructor(
    private capacity: number,
    firstSeq: number,
  ) {
    this.nextSeq = firstSeq;
  }

  /** A reload's retainLines: the ring is laid out oldest first again, keeping the newest `capacity`. */
  resize(capacity: number): void {
    if (capacity === this.capacity) return;
    const order = (column: unknown[]): void => {
      const rotated = column.slice(this.head).concat(column.slice(0, this.head));
      const kept = rotated.slice(Math.max(0, rotated.length - capacity));
      column.length = 0;
      for (const value of kept) column.push(value);
    };
    order(this.sources);
    order(this.offsets);
    order(this.lengths);
    order(this.times);
    this.head = 0;
    this.capacity = capacity;
  }

  get next(): number {
    return this.nextSeq;
  }

  /** Long-polls waiting for a line now (tests: a line printed from here on is after their call). */
  get waiting(): number {
    return this.waiters.size;
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
      const woken = [...this.waiters];
      this.waiters.clear();
      for (const wake of woken) wake();
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
  query(since: number | undefined, limit: number): LogPage {
    const from = Math.min(Math.max(since ?? 0, this.oldestSeq()), this.nextSeq);
    const lines: LogLine[] = [];
    let seq = from;
    for (; seq < this.nextSeq && lines.length < limit; seq += 1) lines.push(this.line(seq));
    return { lines, next: seq };
  }

  /** The last n retained lines and the current end, in one step (no line can slip in between). */
  tail(n: number): LogPage {
    return this.query(Math.max(this.nextSeq - n, this.oldestSeq()), n);
  }

  private line(seq: number): LogLine {
    return { seq, ts: this.times[this.slot(seq)] as string, text: this.text(seq) };
  }

  /**
   * GET /ports/:id/log: with waitMs, first waits until a (matching) line at or after `since` (or the
   * current end) exists, then answers as `query` would, keeping only lines that match. A since past
   * the end is the end (a stale or made-up cursor must not skip the lines printed until it).
   */
  async read(options: ReadOptions): Promise<LogPage> {
    const { limit, match = null, waitMs = 0, signal, budgetMs = SCAN_BUDGET_MS } = options;
    const clock = new ScanClock(budgetMs);
    // Without since, a long-poll starts at the end: a harness waiting for a marker must never be
    // handed one printed before its call.
    const start = options.since ?? (waitMs > 0 ? this.nextSeq : undefined);
    let from = start === undefined ? undefined : Math.min(start, this.nextSeq);
    if (waitMs > 0 && from !== undefined) {
      const found = await this.waitFor(from, match, waitMs, signal, clock);
      // Nothing matched in [from, found.next - 1): the answer starts at the first match, if any.
      if (!found.found) return { lines: [], next: found.next };
      if (match !== null) from = found.next - 1;
    }
    if (match === null) return this.query(from, limit);
    return this.search(from ?? 0, limit, match, clock, signal);
  }

  /** query's lines that match, scanned in slices; stops early when the clock's budget is spent. */
  private async search(
    since: number,
    limit: number,
    match: UserRegex,
    clock: ScanClock,
    signal?: AbortSignal,
  ): Promise<LogPage> {
    const lines: LogLine[] = [];
    let seq = Math.max(since, this.oldestSeq());
    clock.start();
    try {
      // At least one line per call, so a read whose wait spent the budget still answers its match.
      while (seq < this.nextSeq && lines.length < limit) {
        if (match.test(this.text(seq))) lines.push(this.line(seq));
        seq += 1;
        if (clock.exhausted) break;
        if (clock.due()) {
          await clock.pause();
          if (signal?.aborted) break;
          // Lines pushed out of the ring meanwhile are gone, as for a since older than the oldest.
          seq = Math.max(seq, this.oldestSeq());
        }
      }
    } finally {
      clock.stop();
    }
    return { lines, next: seq };
  }

  /**
   * Resolves `found` when a line with seq >= since (matching `match`) exists; otherwise, after waitMs,
   * an abort or the end of the clock's budget, `next` is the first seq not yet scanned.
   */
  async waitFor(
    since: number,
    match: UserRegex | null,
    waitMs: number,
    signal?: AbortSignal,
    clock = new ScanClock(SCAN_BUDGET_MS),
  ): Promise<{ found: boolean; next: number }> {
    const deadline = performance.now() + waitMs;
    let from = since;
    for (;;) {
      if (match === null) {
        if (Math.max(from, this.oldestSeq()) < this.nextSeq) return { found: true, next: from };
        from = Math.max(from, this.nextSeq);
      } else {
        const page = await this.search(from, 1, match, clock, signal);
        if (page.lines.length > 0) return { found: true, next: page.next };
        from = page.next;
        if (clock.exhausted || signal?.aborted) return { found: false, next: from };
        // Lines arrived while the last slices ran.
        if (from < this.nextSeq && performance.now() < deadline) continue;
      }
      const left = deadline - performance.now();
      if (left <= 0 || signal?.aborted || !(await this.appended(left, signal))) {
        return { found: false, next: from };
      }
    }
  }

  /** Resolves true at the next append, false after waitMs or an abort. */
  private appended(waitMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const finish = (appended: boolean): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        signal?.removeEventListener("abort", onAbort);
        resolve(appended);
      };
      const onAbort = (): void => finish(false);
      const wake = (): void => finish(true);
      const timer = setTimeout(() => finish(false), waitMs);
      this.waiters.add(wake);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
