import type { Clock } from "../clock.js";
import type { ConsoleEvent, ConsoleFeed } from "./port-contract.js";

/** Buffers a feed's events so the runner can wait for the next one with a deadline. */
export class ConsoleInbox {
  private readonly events: ConsoleEvent[] = [];
  private wake: (() => void) | null = null;
  private readonly unsubscribe: () => void;

  constructor(
    feed: ConsoleFeed,
    private readonly clock: Clock,
  ) {
    this.unsubscribe = feed.subscribe((event) => {
      this.events.push(event);
      this.wake?.();
    });
  }

  /** The next event, or null once `deadline` (monotonic ms) has passed with none. */
  async next(deadline: number): Promise<ConsoleEvent | null> {
    for (;;) {
      const event = this.events.shift();
      if (event) return event;
      const wait = deadline - this.clock.now();
      if (wait <= 0) return null;
      await new Promise<void>((resolve) => {
        const cancel = this.clock.schedule(() => resolve(), wait);
        this.wake = () => {
          cancel();
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Returns an event taken by next() to the front, for the next reader. */
  putBack(event: ConsoleEvent): void {
    this.events.unshift(event);
  }

  close(): void {
    this.unsubscribe();
  }
}
