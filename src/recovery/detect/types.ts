/**
 * What the classifier hands out: the incidents it detects and the changes to them. The modules of
 * detect/ share these; classifier.ts re-exports them as its public API.
 */
import type { IncidentKind } from "./headers.js";
import type { Severity } from "./user-patterns.js";

export interface Span {
  readonly kind: IncidentKind;
  readonly start: number;
  end: number;
}

export interface DetectedIncident {
  readonly id: string;
  readonly kinds: IncidentKind[];
  state: "open" | "closed";
  readonly opened: string;
  closed?: string;
  outcome?: "observed";
  readonly trigger: { readonly line: string; readonly seq: number; readonly offset: number };
  readonly report: string[];
  readonly context: readonly string[];
  /** Each header's report in capture byte offsets: [start, end). */
  readonly spans: Span[];
  /** User patterns that matched, with their severity. */
  readonly patterns: { name: string; severity: Severity }[];
  /** The report or context hit maxReportChars: later lines were left out. */
  truncated: boolean;
}

export type Change =
  | { readonly type: "opened"; readonly incident: DetectedIncident }
  | { readonly type: "grew"; readonly incident: DetectedIncident }
  | { readonly type: "closed"; readonly incident: DetectedIncident };

export interface LineInput {
  readonly text: string;
  readonly seq: number;
  /** Capture offsets of the line's first byte and just past its last. */
  readonly offset: number;
  readonly end: number;
  readonly at: number;
}
