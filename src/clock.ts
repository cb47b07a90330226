/** Monotonic time and timers, injected so that tests can run them on a fake clock. */
import { setTimeout as sleep } from "node:timers/promises";

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Calls fn after ms; returns a cancel function. */
  schedule(fn: () => void, ms: number): () => void;
}

/** The real clock: monotonic milliseconds from performance.now(), timers from Node. */
export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => sleep(ms),
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
