/**
 * Once the daemon is up, V8's interrupt budget is lowered so that the request path, whose functions a
 * request runs about once each, is optimised after a few hundred requests instead of thousands (see
 * docs/performance.md). Not before: start-up code runs once, and the V8 code cache (code-cache.ts) is
 * only valid for the flags it was made with, so the change comes after the cache is written.
 */
import v8 from "node:v8";

/** An eighth of V8's default (67584): the budget that reached optimised code soonest (see docs/performance.md). */
export const SERVING_INTERRUPT_BUDGET = 8 * 1024;

export function tierUpForServing(): void {
  v8.setFlagsFromString(`--interrupt-budget=${SERVING_INTERRUPT_BUDGET}`);
}
