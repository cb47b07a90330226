/** The per-key result of a SysRq request (the API contract of POST /ports/:id/sysrq). */
import type { AfterEvent } from "./verdict.js";

export type Verdict = "acknowledged" | "disabled" | "unsupported" | "no-response" | "skipped";

export interface AfterReport {
  /** What happened to the target after a life-ending key (b, o, c). */
  readonly event: AfterEvent | "boot-banner" | "none";
  /** The line that showed it, if any. */
  readonly line: string | null;
  readonly disconnected: boolean;
}

export interface CompletionReport {
  /** The completion line ("Emergency Sync complete"), or null if it did not come in time. */
  readonly line: string | null;
  readonly latencyMs: number | null;
}

export interface KeyResult {
  readonly key: string;
  readonly verdict: Verdict;
  readonly action?: string;
  readonly line?: string | null;
  readonly latencyMs?: number | null;
  readonly output?: string[];
  readonly needsBit?: number | null;
  readonly hint?: string;
  readonly supported?: string;
  readonly reason?: string;
  readonly note?: string;
  /** no-response: when the key went out (ISO 8601); the key may still run later (mayStillAct). */
  readonly sentAt?: string;
  /**
   * no-response: true. The bytes left the daemon and cannot be recalled; a stopped or backlogged
   * target can still act on the key when it resumes.
   */
  readonly mayStillAct?: boolean;
  readonly completion?: CompletionReport;
  readonly after?: AfterReport;
}

export const NO_RESPONSE_REASON =
  "no sysrq line within timeoutMs. Either the BREAK did not reach the kernel's console UART (is this port " +
  "the console= of the target? does the wire carry a BREAK?), or SysRq is fully off (kernel.sysrq=0: the key " +
  "then arrives as typed input, visible in output), or the kernel is not running";

export const NO_RESPONSE_STILL_ACTS =
  "The BREAK and key were sent (sentAt) and cannot be recalled: if the target is stopped or still " +
  "reading earlier input, the key may still run when it resumes (mayStillAct)";
