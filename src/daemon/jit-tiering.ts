/**
 * When V8 optimises the request path. V8 compiles a function with TurboFan once the function has run
 * its interrupt budget (66 KB of bytecode by default) a few times. A SysRq request runs most functions
 * of its path once, so with the default budget the path reached optimised code only after 2000-3000
 * requests, and until then a request cost 1.5-3 ms of CPU instead of ~0.5 ms (sequential requests on
 * the bench's VM; `npm run bench` case 4 prints the CPU per request round by round from start-up).
 *
 * Once the daemon is up, the budget is lowered, so that the request path is optimised after a few
 * hundred requests. Not before: during start-up a lower budget optimised code that runs only once
 * (~200 ms slower to /healthz with 256 ports), and the V8 code cache (code-cache.ts) is only valid
 * for the flags it was made with, so the change comes after the cache is written.
 */
import v8 from "node:v8";

/**
 * An eighth of V8's default (67584). Measured on the bench's 2-core VM, CPU per sequential request by
 * block of 200 requests: default 3.1 2.1 1.8 1.8 1.6 1.3 1.8 1.3 ms; 16 KiB 3.7 2.6 1.7 1.4 0.8 0.8 0.9
 * 0.6; 8 KiB 4.6 2.6 1.4 0.9 0.7 0.6 0.6 0.5 (the first block compiles more, on V8's background thread).
 */
export const SERVING_INTERRUPT_BUDGET = 8 * 1024;

export function tierUpForServing(): void {
  v8.setFlagsFromString(`--interrupt-budget=${SERVING_INTERRUPT_BUDGET}`);
}
