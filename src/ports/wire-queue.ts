import { BridgeError } from "../errors.js";

/**
 * Runs tasks one at a time, in arrival order: bytes of two requests to one port never interleave.
 * At most `limit` tasks wait or run; one more is refused at once (QUEUE_FULL) rather than left to
 * pile up behind a slow target.
 */
export class WireQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly limit = Number.POSITIVE_INFINITY) {}

  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.limit) {
      return Promise.reject(
        new BridgeError(
          "QUEUE_FULL",
          `${this.waiting} requests are already queued for this port; retry shortly`,
        ),
      );
    }
    this.waiting += 1;
    const result = this.tail.then(task);
    const settled = result.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled;
    void settled.then(() => {
      this.waiting -= 1;
    });
    return result;
  }

  /** Requests waiting or running. */
  get depth(): number {
    return this.waiting;
  }

  /** Resolves once everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
