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
 * printk timestamps, a line without one is userspace and never a header.
 */
import type { StreamAction } from "../../capture/capture.js";
import type { UserRegex } from "../../capture/user-regex.js";
import {
  ANNOUNCED_REBOOT,
  CUT_HERE,
  REPORT_END,
  bannerOf,
  headerKind,
  type Banner,
  type IncidentKind,
} from "./headers.js";
import { lineText } from "../../capture/line-splitter.js";
import { readKernelLine, reportText } from "./kernel-line.js";
import { mayMatter, messageStart } from "./prefilter.js";
import { RawLines } from "./raw-lines.js";

export type Severity = "info" | "warning" | "error";

export interface WatchPattern {
  readonly name: string;
  readonly regex: UserRegex;
  readonly severity: Severity;
}

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

/** What a line that changes nothing returns: the line path allocates nothing per ordinary line. */
const NO_CHANGES: readonly Change[] = Object.freeze([]);
const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

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

/** What the daemon sent (a BREAK, a key, an NMI, a power action), as the capture tells it. */
export type OwnAction = StreamAction;

const DEFAULTS = {
  reportQuietMs: 2000,
  ownQuietMs: 1500,
  ownMaxMs: 60_000,
  contextLines: 50,
  maxReportChars: 512 * 1024,
};
/** Lines after `cut here` within which the header it announces must come. */
const CUT_HERE_LINES = 4;
/** Keys after which a new boot banner is what we asked for. */
const REBOOTING_KEYS = new Set(["b", "o", "c"]);

export class Classifier {
  private open: DetectedIncident | null = null;
  /** The open incident's report is still collecting lines. */
  private collecting = false;
  /** The report being collected has printed its `---[ end ...` line. */
  private endSeen = false;
  private chars = 0;
  private lastHeaderAt = 0;
  private lastLineAt = 0;
  private lastActivityAt: number;
  private silenceFired = false;
  private readonly context: string[] = [];
  /** The open report's lines that no test needed decoded: their bytes, decoded when the report is read. */
  private readonly raw = new RawLines();
  /** The open incident's report lines (its `report` getter decodes `raw` into them first). */
  private lines: string[] = [];
  private cutHere: { line: LineInput; text: string; left: number } | null = null;
  private ownUntil = -1;
  private ownStartedAt = -1;
  private timestamps = false;
  /** Banner rule: the last banner seen since (re)connect, output after it, a reboot we expect. */
  private lastBanner: Banner | "connected" = "connected";
  private outputSinceBanner = false;
  private rebootExpected = false;
  /**
   * The `at` of the last line, when after it nothing waits on time or on the next line (no report due
   * to end, no `cut here`, no user pattern): another line of the same read can then change nothing but
   * the report and the banner rule, unless the prefilter passes it. NaN: not steady.
   */
  private steadyAt = NaN;
  /**
   * The open incident's last span and whether its report is full (its `truncated`), kept here: read
   * through the incident object on every line they cost more than the rest of the line's work.
   */
  private span: Span | null = null;
  private full = false;
  private readonly o: Required<Omit<ClassifierOptions, "kinds" | "contextOf">> &
    Pick<ClassifierOptions, "kinds" | "contextOf">;

  constructor(options: ClassifierOptions, now: number) {
    this.o = { ...DEFAULTS, ...options };
    this.lastActivityAt = now;
  }

  /** Our own action just went out: what the console prints next belongs to it. */
  action(action: OwnAction, at: number): void {
    this.steadyAt = NaN;
    this.ownStartedAt = at;
    this.ownUntil = at + this.o.ownQuietMs;
    if (action.kind === "power" || (action.kind === "key" && REBOOTING_KEYS.has(action.key)))
      this.rebootExpected = true;
  }

  /**
   * Something else closed incident `id` for good (a recovery ladder ended it): it takes no more lines,
   * and the next header opens a new incident. No change is returned: its closing was recorded there.
   */
  release(id: string): void {
    const open = this.open;
    if (open === null || open.id !== id) return;
    this.decodeRaw();
    this.raw.release();
    open.state = "closed";
    this.open = null;
    this.collecting = false;
    this.endSeen = false;
  }

  /** The port (re)connected: the first banner after this never opens a `reboot` incident. */
  connected(at: number): void {
    this.steadyAt = NaN;
    this.lastBanner = "connected";
    this.outputSinceBanner = false;
    this.lastActivityAt = at;
    this.silenceFired = false;
  }

  /** The port lost its wire: a report in progress ends there. */
  disconnected(at: number): Change[] {
    const changes = this.tick(at);
    this.collecting = false;
    this.steadyAt = NaN;
    return changes;
  }

  /** True while every line must come as text: a report is being collected, or something needs it. */
  get needsText(): boolean {
    return this.collecting || this.cutHere !== null || this.o.patterns.length > 0;
  }

  /** The port has shown printk timestamps (prefilter.ts: a line without one is then userspace). */
  get stamped(): boolean {
    return this.timestamps;
  }

  /**
   * A line prefilter.ts found nothing in, not decoded: it only counts as output (for quiet, silence,
   * our own action's window and the banner rule).
   */
  skip(at: number): Change[] {
    this.steadyAt = NaN;
    const changes = this.open === null ? [] : this.tick(at);
    this.passed(at);
    return changes;
  }

  /** A line went by that is nothing but output. */
  private passed(at: number): void {
    this.lastActivityAt = at;
    this.silenceFired = false;
    this.inOwnWindow(at);
    this.lastLineAt = at;
    this.outputSinceBanner = true;
  }

  /** tick() would change something (checked per line without building its answer). */
  private due(now: number): boolean {
    const quiet = this.endSeen ? this.o.reportQuietMs : this.o.reportQuietMs * 3;
    return (this.collecting && now - this.lastLineAt >= quiet) || now - this.lastHeaderAt >= this.o.quietMs;
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
      const open = this.collecting ? this.open : null;
      if (open === null) {
        this.outputSinceBanner = true;
        return NO_CHANGES;
      }
      if (this.endSeen || !endsLikeTrace(source, start, end)) {
        const span = this.span;
        if (!this.full) this.appendRaw(source, start, end, offset + end - start);
        else if (span !== null && offset + end - start > span.end) span.end = offset + end - start;
        this.outputSinceBanner = true;
        return NO_CHANGES;
      }
    }
    const changes = this.lineBytesAll(seq, source, start, end, offset, at);
    this.steadyAt =
      this.cutHere === null &&
      this.o.patterns.length === 0 &&
      (this.timestamps || !this.collecting) &&
      (this.open === null || !this.due(at))
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
      this.cutHere !== null ||
      this.o.patterns.length > 0 ||
      mayMatter(source, start, end, this.timestamps) ||
      (this.collecting && !this.endSeen && endsLikeTrace(source, start, end))
    )
      return this.line({
        seq,
        offset,
        end: offset + end - start,
        at,
        text: lineText(source.subarray(start, end)),
      });
    let changes = NO_CHANGES;
    if (this.open !== null) {
      if (this.due(at)) changes = this.tick(at);
      if (this.collecting) {
        // A report's line decoded would have shown the port's timestamps; kept as bytes, it still must.
        if (!this.timestamps && messageStart(source, start, end) !== -1) this.timestamps = true;
        this.appendRaw(source, start, end, offset + end - start);
      }
    }
    this.passed(at);
    return changes;
  }

  line(input: LineInput): Change[] {
    this.steadyAt = NaN;
    const changes = this.tick(input.at);
    this.lastActivityAt = input.at;
    this.silenceFired = false;
    const kl = readKernelLine(input.text);
    if (kl.timestamped) this.timestamps = true;
    const owned = this.inOwnWindow(input.at);
    this.lastLineAt = input.at;
    const message = kl.timestamped || !this.timestamps ? kl.message : "";

    let kind: IncidentKind | null = headerKind(message);
    if (kind === null && this.cutHere !== null) {
      this.cutHere.left -= 1;
      if (this.cutHere.left <= 0) {
        // A `cut here` with no header after it: the kernel's WARN without its header line.
        const cut = this.cutHere;
        this.cutHere = null;
        this.header("warning", cut.line, cut.text, changes);
      }
    }
    let startLine: { line: LineInput; text: string } = { line: input, text: kl.text };
    if (kind !== null && this.cutHere !== null) startLine = this.cutHere;
    if (kind === null && CUT_HERE.test(message) && !owned) {
      this.cutHere = { line: input, text: kl.text, left: CUT_HERE_LINES };
    }
    if (kind !== null) this.cutHere = null;
    if (kind !== null && owned && kind !== "panic") kind = null; // the dump we asked for

    let pattern: { name: string; severity: "info" | "warning" | "error" } | null = null;
    if (kind === null && this.o.patterns.length > 0) {
      for (const p of this.o.patterns) {
        if (p.regex.test(kl.text)) {
          pattern = { name: p.name, severity: p.severity };
          kind = "pattern";
          break;
        }
      }
    }

    const banner = kind === null ? bannerOf(message, kl.text) : null;
    if (banner !== null) {
      const unexpected =
        !this.rebootExpected &&
        this.outputSinceBanner &&
        (this.lastBanner === "linux" || (this.lastBanner !== "connected" && banner === "firmware"));
      this.lastBanner = banner;
      this.outputSinceBanner = false;
      this.rebootExpected = false;
      if (unexpected && this.open === null) kind = "reboot";
    } else {
      this.outputSinceBanner = true;
      if (ANNOUNCED_REBOOT.test(message)) this.rebootExpected = true;
    }

    if (kind !== null && this.enabled(kind)) {
      this.header(kind, startLine.line, startLine.text, changes, pattern);
      if (startLine.line !== input) this.append(input, kl.text);
    } else if (this.open !== null && this.collecting) {
      this.append(input, kl.text);
      if (REPORT_END.test(message)) this.endSeen = true;
    }
    this.remember(kl.text);
    return changes;
  }

  /**
   * A detector beside the console (QMP's GUEST_PANICKED): opens an incident of `kind` whose trigger
   * is `text`, or joins the open one (one failure, one incident); the console's report that follows
   * is collected into it.
   */
  external(kind: IncidentKind, text: string, at: number): Change[] {
    const changes = this.tick(at);
    if (!this.enabled(kind)) return changes;
    this.lastHeaderAt = at;
    const open = this.open;
    if (open === null) {
      const incident = this.newIncident(kind, { text, seq: -1, offset: -1, end: -1, at }, text);
      this.open = incident;
      this.collecting = true;
      this.endSeen = false;
      this.lastLineAt = at;
      changes.push({ type: "opened", incident });
      return changes;
    }
    if (!open.kinds.includes(kind)) open.kinds.push(kind);
    changes.push({ type: "grew", incident: open });
    return changes;
  }

  /** Time passes: reports end, incidents close, silence is noticed. */
  tick(now: number): Change[] {
    this.steadyAt = NaN;
    const changes: Change[] = [];
    const open = this.open;
    if (open !== null) {
      // Before the report's end line a pause may be the kernel still printing (a slow console).
      const quiet = this.endSeen ? this.o.reportQuietMs : this.o.reportQuietMs * 3;
      if (this.collecting && now - this.lastLineAt >= quiet) {
        this.collecting = false;
        changes.push({ type: "grew", incident: open });
      }
      if (now - this.lastHeaderAt >= this.o.quietMs) {
        this.decodeRaw();
        this.raw.release();
        open.state = "closed";
        open.closed = this.o.wallClock();
        open.outcome = "observed";
        this.open = null;
        this.collecting = false;
        changes.push({ type: "closed", incident: open });
      }
    }
    if (
      this.o.silenceMs > 0 &&
      !this.silenceFired &&
      this.open === null &&
      now - this.lastActivityAt >= this.o.silenceMs &&
      this.enabled("silence")
    ) {
      this.silenceFired = true;
      const incident = this.newIncident("silence", { text: "", seq: -1, offset: -1, end: -1, at: now }, "");
      this.open = incident;
      this.collecting = false;
      this.lastHeaderAt = now;
      changes.push({ type: "opened", incident });
    }
    return changes;
  }

  /** tick() may change something as time passes: an incident is open, or silence may yet fire. */
  get waiting(): boolean {
    if (this.open !== null) return true;
    return this.o.silenceMs > 0 && !this.silenceFired && this.enabled("silence");
  }

  /** The open incident, if any. */
  get current(): DetectedIncident | null {
    return this.open;
  }

  private inOwnWindow(at: number): boolean {
    if (this.ownUntil < 0) return false;
    if (at <= this.ownUntil && at - this.ownStartedAt <= this.o.ownMaxMs) {
      this.ownUntil = at + this.o.ownQuietMs;
      return true;
    }
    this.ownUntil = -1;
    return false;
  }

  private enabled(kind: IncidentKind): boolean {
    return this.o.kinds === undefined || this.o.kinds.has(kind);
  }

  private header(
    kind: IncidentKind,
    line: LineInput,
    text: string,
    changes: Change[],
    pattern: { name: string; severity: Severity } | null = null,
  ): void {
    this.lastHeaderAt = line.at;
    const open = this.open;
    if (open === null) {
      const incident = this.newIncident(kind, line, text);
      if (pattern) incident.patterns.push(pattern);
      this.open = incident;
      this.collecting = true;
      this.endSeen = false;
      this.append(line, text);
      changes.push({ type: "opened", incident });
      return;
    }
    if (!open.kinds.includes(kind)) open.kinds.push(kind);
    if (pattern && !open.patterns.some((p) => p.name === pattern.name)) open.patterns.push(pattern);
    this.span = { kind, start: line.offset, end: line.end };
    open.spans.push(this.span);
    this.collecting = true;
    this.endSeen = false;
    this.append(line, text);
    changes.push({ type: "grew", incident: open });
  }

  private newIncident(kind: IncidentKind, line: LineInput, text: string): DetectedIncident {
    this.chars = 0;
    const context: string[] = [];
    const before =
      this.o.contextOf && line.seq >= 0 ? this.o.contextOf(line.seq, this.o.contextLines) : this.context;
    for (const c of before) {
      if (this.chars + c.length > this.o.maxReportChars) break;
      context.push(c);
      this.chars += c.length;
    }
    const report: string[] = [];
    this.lines = report;
    const decodeRaw = (): void => {
      if (this.open === incident) this.decodeRaw();
    };
    const incident: DetectedIncident = {
      id: this.o.newId(),
      kinds: [kind],
      state: "open",
      opened: this.o.wallClock(),
      trigger: { line: text, seq: line.seq, offset: line.offset },
      // Reading the report decodes the lines kept as bytes first.
      get report(): string[] {
        decodeRaw();
        return report;
      },
      context,
      spans: line.offset >= 0 ? [{ kind, start: line.offset, end: line.end }] : [],
      patterns: [],
      truncated: false,
    };
    this.span = incident.spans[0] ?? null;
    this.full = false;
    return incident;
  }

  private append(line: LineInput, text: string): void {
    const open = this.open;
    if (open === null) return;
    this.spanTo(open, line.end);
    this.decodeRaw();
    this.keep(open, text);
  }

  /** A report line kept as bytes: decoded later, unless it reaches the bound, where its length decides now. */
  private appendRaw(source: Buffer, start: number, end: number, endOffset: number): void {
    const open = this.open;
    if (open === null) return;
    this.spanTo(open, endOffset);
    if (open.truncated) return;
    // Bytes are never fewer than the characters they decode to: within the bound as bytes, within it as text.
    if (this.chars + this.raw.length + end - start <= this.o.maxReportChars)
      this.raw.push(source, start, end);
    else {
      this.decodeRaw();
      this.keep(open, reportText(lineText(source.subarray(start, end))));
    }
  }

  private spanTo(open: DetectedIncident, end: number): void {
    const span = open.spans[open.spans.length - 1];
    if (span && end > span.end) span.end = end;
  }

  /** Lines past the bound are left out, and so is every later one: the report stays one piece. */
  private keep(open: DetectedIncident, text: string): void {
    if (open.truncated) return;
    if (this.chars + text.length > this.o.maxReportChars) {
      open.truncated = true;
      this.full = true;
      return;
    }
    this.chars += text.length;
    this.lines.push(text);
  }

  private decodeRaw(): void {
    const open = this.open;
    if (open === null || this.raw.length === 0) return;
    this.raw.drain((text) => this.keep(open, text));
  }

  private remember(text: string): void {
    if (this.o.contextOf) return;
    this.context.push(text);
    if (this.context.length > this.o.contextLines) this.context.shift();
  }
}

/**
 * The line ends like `end trace 0123abcd ]---` (REPORT_END's unanchored form), CR and LF aside: a
 * report's end line the prefilter (which looks only at the message's start) would not pass.
 */
function endsLikeTrace(buf: Buffer, start: number, end: number): boolean {
  let i = end - 1;
  while (i >= start && (buf[i] === LF || buf[i] === CR)) i -= 1;
  return (
    i - 3 >= start && buf[i] === DASH && buf[i - 1] === DASH && buf[i - 2] === DASH && buf[i - 3] === 0x5d
  );
}
