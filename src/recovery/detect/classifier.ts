/**
 * A streaming crash and hang classifier over one port's console lines. Pure: no I/O, no timers; time
 * comes in with each call (monotonic ms), ids and wall-clock stamps through the options.
 *
 *   line(text, offsets, at) ──> header? ──> open incident ──> report lines until the console is quiet
 *                                   │            └─ a later header joins it (one failure, one incident)
 *                                   └─ inside the window of our own SysRq / NMI: the action's output
 *   tick(now) ──> the report ends after reportQuietMs of quiet; the incident closes (observed) after
 *                 quietMs without a new header; no output for silenceMs opens `silence`
 *
 * A header counts only where the kernel's message starts (kernel-line.ts); once the port has shown
 * printk timestamps, a line without one is userspace and never a header. This file runs each line
 * through the rules, each in a module of its own:
 *
 *   headers.ts        the kernel's report headers per kind, boot banners
 *   cut-here.ts       `cut here` before a WARNING / BUG: the incident starts there
 *   own-window.ts     output that follows our own action belongs to it
 *   user-patterns.ts  the operator's patterns
 *   reboot-rule.ts    a boot banner nobody expected is a `reboot`
 *   open-incident.ts  the open incident over time (report, quiet, close), report.ts its bounded report,
 *                     context.ts the lines before its trigger
 *   silence.ts        no output for silenceMs
 *   prefilter.ts      the byte scan that lets most lines by undecoded
 */
import { lineText } from "../../capture/line-splitter.js";
import { ContextLines } from "./context.js";
import { CutHere, type HeldLine } from "./cut-here.js";
import { headerKind, type IncidentKind } from "./headers.js";
import { readKernelLine } from "./kernel-line.js";
import { OpenIncident } from "./open-incident.js";
import { withDefaults, type ClassifierOptions } from "./options.js";
import { OwnWindow, type OwnAction } from "./own-window.js";
import { endsLikeTrace, mayMatter, messageStart } from "./prefilter.js";
import { RebootRule } from "./reboot-rule.js";
import { SilenceTimer } from "./silence.js";
import type { Change, DetectedIncident, LineInput } from "./types.js";
import { matchPattern, type PatternHit, type WatchPattern } from "./user-patterns.js";

export type { ClassifierOptions } from "./options.js";
export type { Change, DetectedIncident, LineInput, Span } from "./types.js";
export type { OwnAction } from "./own-window.js";
export type { Severity, WatchPattern } from "./user-patterns.js";

/** What a line that changes nothing returns: the line path allocates nothing per ordinary line. */
const NO_CHANGES: readonly Change[] = Object.freeze([]);

export class Classifier {
  private readonly incident: OpenIncident;
  private readonly context: ContextLines;
  private readonly cut = new CutHere();
  private readonly own: OwnWindow;
  private readonly reboots = new RebootRule();
  private readonly silence: SilenceTimer;
  private readonly kinds: ReadonlySet<IncidentKind> | undefined;
  private readonly patterns: readonly WatchPattern[];
  private timestamps = false;
  /**
   * The `at` of the last line, when after it nothing waits on time or on the next line (no report due
   * to end, no `cut here`, no user pattern): another line of the same read can then change nothing but
   * the report and the reboot rule, unless the prefilter passes it. NaN: not steady.
   */
  private steadyAt = NaN;

  constructor(options: ClassifierOptions, now: number) {
    const o = withDefaults(options);
    this.context = new ContextLines(o.contextLines, o.contextOf);
    this.incident = new OpenIncident(o, this.context);
    this.own = new OwnWindow(o.ownQuietMs, o.ownMaxMs);
    this.silence = new SilenceTimer(o.silenceMs, now);
    this.kinds = o.kinds;
    this.patterns = o.patterns;
  }

  /** Our own action just went out: what the console prints next belongs to it. */
  action(action: OwnAction, at: number): void {
    this.steadyAt = NaN;
    this.own.started(at);
    this.reboots.action(action);
  }

  /**
   * Something else closed incident `id` for good (a recovery ladder ended it): it takes no more lines,
   * and the next header opens a new incident. No change is returned: its closing was recorded there.
   */
  release(id: string): void {
    this.incident.release(id);
  }

  /** The port (re)connected: the first banner after this never opens a `reboot` incident. */
  connected(at: number): void {
    this.steadyAt = NaN;
    this.reboots.connected();
    this.silence.activity(at);
  }

  /** The port lost its wire: a report in progress ends there. */
  disconnected(at: number): Change[] {
    const changes = this.tick(at);
    this.incident.disconnected();
    this.steadyAt = NaN;
    return changes;
  }

  /** True while every line must come as text: a report is being collected, or something needs it. */
  get needsText(): boolean {
    return this.incident.collectingReport !== null || this.cut.pending || this.patterns.length > 0;
  }

  /** The port has shown printk timestamps (prefilter.ts: a line without one is then userspace). */
  get stamped(): boolean {
    return this.timestamps;
  }

  /** tick() may change something as time passes: an incident is open, or silence may yet fire. */
  get waiting(): boolean {
    if (this.incident.current !== null) return true;
    return this.silence.armed && this.enabled("silence");
  }

  /** The open incident, if any. */
  get current(): DetectedIncident | null {
    return this.incident.current;
  }

  /**
   * A line prefilter.ts found nothing in, not decoded: it only counts as output (for quiet, silence,
   * our own action's window and the reboot rule).
   */
  skip(at: number): Change[] {
    this.steadyAt = NaN;
    const changes = this.incident.current === null ? [] : this.tick(at);
    this.passed(at);
    return changes;
  }

  /**
   * A line as the capture's bytes: source[start, end), at capture `offset`. The byte prefilter
   * (prefilter.ts) decides whether it needs decoding, even while a report is collecting lines: a line
   * that is only kept in the report is copied as bytes and decoded when the report is read.
   */
  lineBytes(
    seq: number,
    source: Buffer,
    start: number,
    end: number,
    offset: number,
    at: number,
  ): readonly Change[] {
    if (at === this.steadyAt && !mayMatter(source, start, end, this.timestamps)) {
      // The common line: what the path below would do, less what the line before at `at` already did.
      const report = this.incident.collectingReport;
      if (report === null) {
        this.reboots.output();
        return NO_CHANGES;
      }
      if (!this.incident.beforeEnd || !endsLikeTrace(source, start, end)) {
        report.appendRaw(source, start, end, offset + end - start);
        this.reboots.output();
        return NO_CHANGES;
      }
    }
    const changes = this.lineBytesAll(seq, source, start, end, offset, at);
    this.steadyAt =
      !this.cut.pending &&
      this.patterns.length === 0 &&
      (this.timestamps || this.incident.collectingReport === null) &&
      !this.incident.due(at)
        ? at
        : NaN;
    return changes;
  }

  /**
   * lineBytes() over the lines of one read, as the capture hands them over (capture/line-batch.ts):
   * line i is source[i === 0 ? start : ends[i - 1], ends[i]) at capture offset
   * `offset + (its first index - start)`. One call per read instead of one per line.
   */
  linesBytes(
    seq: number,
    source: Buffer,
    start: number,
    ends: Int32Array,
    count: number,
    offset: number,
    at: number,
  ): readonly Change[] {
    let changes: Change[] | null = null;
    let from = start;
    for (let i = 0; i < count; i += 1) {
      const to = ends[i] as number;
      const c = this.lineBytes(seq + i, source, from, to, offset + from - start, at);
      if (c.length > 0) {
        changes ??= [];
        for (const change of c) changes.push(change);
      }
      from = to;
    }
    return changes ?? NO_CHANGES;
  }

  line(input: LineInput): Change[] {
    this.steadyAt = NaN;
    const changes = this.tick(input.at);
    this.silence.activity(input.at);
    const kl = readKernelLine(input.text);
    if (kl.timestamped) this.timestamps = true;
    const owned = this.own.owns(input.at);
    this.incident.heard(input.at);
    const message = kl.timestamped || !this.timestamps ? kl.message : "";

    let kind: IncidentKind | null = headerKind(message);
    let start: HeldLine = { line: input, text: kl.text };
    if (kind === null) {
      // A `cut here` with no header after it: the kernel's WARN without its header line.
      const cut = this.cut.line(input, message, kl.text, owned);
      if (cut !== null) this.incident.header("warning", cut.line, cut.text, null, changes);
    } else start = this.cut.header() ?? start;
    if (kind !== null && owned && kind !== "panic") kind = null; // the dump we asked for

    let pattern: PatternHit | null = null;
    if (kind === null && this.patterns.length > 0) {
      pattern = matchPattern(this.patterns, kl.text);
      if (pattern !== null) kind = "pattern";
    }

    if (this.reboots.line(message, kl.text, kind !== null) && this.incident.current === null) kind = "reboot";

    if (kind !== null && this.enabled(kind)) {
      this.incident.header(kind, start.line, start.text, pattern, changes);
      if (start.line !== input) this.incident.append(input, kl.text, null);
    } else this.incident.append(input, kl.text, message);
    this.context.remember(kl.text);
    return changes;
  }

  /**
   * A detector beside the console (QMP's GUEST_PANICKED): opens an incident of `kind` whose trigger
   * is `text`, or joins the open one (one failure, one incident); the console's report that follows
   * is collected into it.
   */
  external(kind: IncidentKind, text: string, at: number): Change[] {
    const changes = this.tick(at);
    if (this.enabled(kind)) this.incident.external(kind, text, at, changes);
    return changes;
  }

  /** Time passes: reports end, incidents close, silence is noticed. */
  tick(now: number): Change[] {
    this.steadyAt = NaN;
    const changes: Change[] = [];
    this.incident.tick(now, changes);
    if (this.incident.current === null && this.silence.due(now) && this.enabled("silence")) {
      this.silence.noticed();
      this.incident.silence(now, changes);
    }
    return changes;
  }

  /** lineBytes() for a line that may start a read, change state or need decoding. */
  private lineBytesAll(
    seq: number,
    source: Buffer,
    start: number,
    end: number,
    offset: number,
    at: number,
  ): readonly Change[] {
    if (
      this.cut.pending ||
      this.patterns.length > 0 ||
      mayMatter(source, start, end, this.timestamps) ||
      (this.incident.beforeEnd && endsLikeTrace(source, start, end))
    )
      return this.line({
        seq,
        offset,
        end: offset + end - start,
        at,
        text: lineText(source.subarray(start, end)),
      });
    let changes = NO_CHANGES;
    if (this.incident.current !== null) {
      if (this.incident.due(at)) changes = this.tick(at);
      const report = this.incident.collectingReport;
      if (report !== null) {
        // A report's line decoded would have shown the port's timestamps; kept as bytes, it still must.
        if (!this.timestamps && messageStart(source, start, end) !== -1) this.timestamps = true;
        report.appendRaw(source, start, end, offset + end - start);
      }
    }
    this.passed(at);
    return changes;
  }

  /** A line went by that is nothing but output. */
  private passed(at: number): void {
    this.silence.activity(at);
    this.own.owns(at);
    this.incident.heard(at);
    this.reboots.output();
  }

  private enabled(kind: IncidentKind): boolean {
    return this.kinds === undefined || this.kinds.has(kind);
  }
}
