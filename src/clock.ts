/** The real clock: monotonic milliseconds from performance.now(), timers from Node. */
import { setTimeout as sleep } from "node:timers/promises";
import type { Clock } from "./sysrq/console.js";

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep: (ms) => sleep(ms),
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};
