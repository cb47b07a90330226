/**
 * The lines of one read, gathered for the capture's observers and handed over in one call: at stream
 * rates a read holds about a thousand lines, and a call per line into the crash watcher cost more than
 * the watcher's look at each line (docs/performance.md, case 3c).
 */
/**
 * Follows every line without changing how the index is written (unlike Capture.onLine, which writes
 * each line's record first): the crash watcher. Also hears our own actions and gaps, in stream order.
 */
export interface LineObserver {
  /**
   * Lines of one buffer, in stream order, all received at `at` (monotonic): line i is
   * source[i === 0 ? start : ends[i - 1], ends[i]) (with its LF), its seq is `seq + i`, and it begins
   * at capture offset `offset + (its first index - start)`. `ends` is reused once the call returns.
   * Bytes, not text: the watcher decodes only the few lines it needs (see recovery/detect/prefilter.ts).
   */
  lines(
    seq: number,
    source: Buffer,
    start: number,
    ends: Int32Array,
    count: number,
    offset: number,
    at: number,
  ): void;
  action(action: StreamAction, at: number): void;
  /** No bytes could arrive (a disconnect, a restart): what follows is a new connection's output. */
  gap(at: number): void;
}

/** What the daemon itself did to the target, in stream order with the lines (a watcher's own-action window). */
export type StreamAction =
  | { readonly kind: "break" }
  | { readonly kind: "key"; readonly key: string }
  | { readonly kind: "nmi" }
  | { readonly kind: "power" };

/** Lines per call at most: a read of 64 KiB of bare LFs is 64 calls, not one huge array. */
const MAX_BATCH = 1024;

export class LineBatch {
  private source: Buffer | null = null;
  private seq = 0;
  private start = 0;
  private offset = 0;
  private at = 0;
  private readonly ends = new Int32Array(MAX_BATCH);
  private count = 0;

  /** Adds a line; lines of another buffer, not contiguous, or of another time go out first. */
  add(
    observers: readonly LineObserver[],
    seq: number,
    source: Buffer,
    start: number,
    end: number,
    offset: number,
    at: number,
  ): void {
    const count = this.count;
    if (
      count > 0 &&
      (source !== this.source || at !== this.at || start !== this.ends[count - 1] || count === MAX_BATCH)
    )
      this.flush(observers);
    if (this.count === 0) {
      this.source = source;
      this.seq = seq;
      this.start = start;
      this.offset = offset;
      this.at = at;
    }
    this.ends[this.count] = end;
    this.count += 1;
  }

  /** Hands the gathered lines to every observer (before anything else reaches them: stream order). */
  flush(observers: readonly LineObserver[]): void {
    const count = this.count;
    const source = this.source;
    if (count === 0 || source === null) return;
    this.count = 0;
    this.source = null; // the read's buffer is not kept alive by the batch
    for (let i = 0; i < observers.length; i += 1)
      (observers[i] as LineObserver).lines(
        this.seq,
        source,
        this.start,
        this.ends,
        count,
        this.offset,
        this.at,
      );
  }
}
