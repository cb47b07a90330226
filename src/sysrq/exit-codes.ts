/**
 * Exit status of the client commands (and the SSH door's exec requests), so a rig can branch on it. When a command sees several
 * outcomes (a SysRq sequence), the worst one wins: the codes are ordered from best to worst.
 */
import type { KeyResult } from "./result.js";

export const ExitCode = {
  OK: 0,
  DISABLED: 2,
  UNSUPPORTED: 3,
  NO_RESPONSE: 4,
  PANIC: 5,
  REFUSED: 6,
  TRANSPORT: 7,
  /** Bad arguments (BSD EX_USAGE): kept apart from the verdict codes above. */
  USAGE: 64,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type NmiVerdict = "acknowledged" | "panic" | "no-response";

export function exitForVerdict(verdict: KeyResult["verdict"] | NmiVerdict): ExitCode {
  switch (verdict) {
    case "acknowledged":
      return ExitCode.OK;
    case "disabled":
      return ExitCode.DISABLED;
    case "unsupported":
      return ExitCode.UNSUPPORTED;
    case "no-response":
    case "skipped":
      return ExitCode.NO_RESPONSE;
    case "panic":
      return ExitCode.PANIC;
  }
}

/** A 4xx is the daemon refusing the request (fix the request); anything else is the path to it. */
export function exitForStatus(status: number): ExitCode {
  return status >= 400 && status < 500 ? ExitCode.REFUSED : ExitCode.TRANSPORT;
}

export function worst(codes: Iterable<ExitCode>): ExitCode {
  let result: ExitCode = ExitCode.OK;
  for (const code of codes) if (code > result) result = code;
  return result;
}
