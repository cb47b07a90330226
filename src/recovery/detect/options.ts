/** The classifier's options and the defaults of those a port's config may leave out. */
import type { IncidentKind } from "./headers.js";
import type { WatchPattern } from "./user-patterns.js";

export interface ClassifierOptions {
  /** Kinds that may open an incident (all when absent). */
  readonly kinds?: ReadonlySet<IncidentKind>;
  /** An open incident closes as `observed` after this long without a new header. */
  readonly quietMs: number;
  /** No byte for this long opens a `silence` incident; 0 = off. */
  readonly silenceMs: number;
  readonly patterns: readonly WatchPattern[];
  /** A report ends once the console has been quiet this long after its last line. */
  readonly reportQuietMs?: number;
  /** Our action's output ends once the console has been quiet this long (and at most ownMaxMs). */
  readonly ownQuietMs?: number;
  readonly ownMaxMs?: number;
  /** Lines kept before a trigger, copied into the incident's context. */
  readonly contextLines?: number;
  /** Bounds of one incident's report + context, in characters (the file copy stays ≤ 1 MiB). */
  readonly maxReportChars?: number;
  /**
   * The lines before `seq` (the trigger) for an incident's context, oldest first; absent: the
   * classifier keeps them itself from the lines it is given as text.
   */
  readonly contextOf?: (seq: number, lines: number) => string[];
  readonly newId: () => string;
  readonly wallClock: () => string;
}

const DEFAULTS = {
  reportQuietMs: 2000,
  ownQuietMs: 1500,
  ownMaxMs: 60_000,
  contextLines: 50,
  maxReportChars: 512 * 1024,
};

export type ResolvedOptions = ClassifierOptions & typeof DEFAULTS;

export function withDefaults(options: ClassifierOptions): ResolvedOptions {
  return { ...DEFAULTS, ...options };
}
