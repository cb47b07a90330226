/** The operator's own patterns (watch.patterns): a line one matches opens a `pattern` incident. */
import type { UserRegex } from "../../capture/user-regex.js";

export type Severity = "info" | "warning" | "error";

export interface WatchPattern {
  readonly name: string;
  readonly regex: UserRegex;
  readonly severity: Severity;
}

export interface PatternHit {
  readonly name: string;
  readonly severity: Severity;
}

/** The first pattern `text` matches, in config order (the operator's order is the priority). */
export function matchPattern(patterns: readonly WatchPattern[], text: string): PatternHit | null {
  for (const p of patterns) if (p.regex.test(text)) return { name: p.name, severity: p.severity };
  return null;
}
