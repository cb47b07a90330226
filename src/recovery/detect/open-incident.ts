/**
 * The one open incident of a port, as a small state machine over time:
 *
 *   header ──> open, report collecting ──(reportQuietMs of quiet)──> report ended
 *     ^              │  a later header joins it, a new span collects   │
 *     └──────────────┴──────────(quietMs without a new header)────────> closed (observed)
 *
 * Before the report's `---[ end` line a pause may be the kernel still printing (a slow console), so
 * the report waits three times as long for its next line.
 */
import type { ContextLines } from "./context.js";
import { REPORT_END, type IncidentKind } from "./headers.js";
import { Report, type ReportOptions } from "./report.js";
import type { Change, DetectedIncident, LineInput } from "./types.js";
import type { PatternHit } from "./user-patterns.js";

export interface OpenIncidentOptions extends ReportOptions {
  readonly quietMs: number;
  readonly reportQuietMs: number;
}

/** A trigger that is no console line (a detector beside it, silence): no offsets, no span. */
const noLine = (text: string, at: number): LineInput => ({ text, seq: -1, offset: -1, end: -1, at });

export class OpenIncident {
  private report: Report | null = null;
  /** The open incident's report is still collecting lines. */
  private collecting = false;
  /** The report being collected has printed its `---[ end ...` line. */
  private endSeen = false;
  private lastHeaderAt = 0;
  private lastLineAt = 0;
  private readonly o: OpenIncidentOptions;
  private readonly context: ContextLines;

  constructor(o: OpenIncidentOptions, context: ContextLines) {
    this.o = o;
    this.context = context;
  }

  get current(): DetectedIncident | null {
    return this.report === null ? null : this.report.incident;
  }

  /** The report still collecting lines, if any. */
  get collectingReport(): Report | null {
    return this.collecting ? this.report : null;
  }

  /** A report is collecting and has not printed its end line yet. */
  get beforeEnd(): boolean {
    return this.collecting && !this.endSeen;
  }

  /** A console line went by at `at`: the report's quiet counts from here. */
  heard(at: number): void {
    this.lastLineAt = at;
  }

  /** A header line: opens an incident or joins the open one (one failure, one incident). */
  header(
    kind: IncidentKind,
    line: LineInput,
    text: string,
    pattern: PatternHit | null,
    changes: Change[],
  ): void {
    this.lastHeaderAt = line.at;
    const open = this.report;
    if (open === null) {
      const report = this.open(kind, line, text);
      if (pattern) report.incident.patterns.push(pattern);
      this.collecting = true;
      this.endSeen = false;
      report.append(line, text);
      changes.push({ type: "opened", incident: report.incident });
      return;
    }
    open.join(kind, line, pattern);
    this.collecting = true;
    this.endSeen = false;
    open.append(line, text);
    changes.push({ type: "grew", incident: open.incident });
  }

  /** A detector beside the console: its `text` triggers, the console's report that follows is collected. */
  external(kind: IncidentKind, text: string, at: number, changes: Change[]): void {
    this.lastHeaderAt = at;
    const open = this.report;
    if (open === null) {
      const report = this.open(kind, noLine(text, at), text);
      this.collecting = true;
      this.endSeen = false;
      this.lastLineAt = at;
      changes.push({ type: "opened", incident: report.incident });
      return;
    }
    open.addKind(kind);
    changes.push({ type: "grew", incident: open.incident });
  }

  /** No output for the silence timeout: an incident with no report to collect. */
  silence(now: number, changes: Change[]): void {
    const report = this.open("silence", noLine("", now), "");
    this.collecting = false;
    this.lastHeaderAt = now;
    changes.push({ type: "opened", incident: report.incident });
  }

  /** A line kept in the report while it collects; its kernel `message` may end the report (null: it cannot). */
  append(line: LineInput, text: string, message: string | null): void {
    const report = this.collectingReport;
    if (report === null) return;
    report.append(line, text);
    if (message !== null && REPORT_END.test(message)) this.endSeen = true;
  }

  /** tick() would change something (checked per line without building its answer). */
  due(now: number): boolean {
    return (
      this.report !== null &&
      ((this.collecting && now - this.lastLineAt >= this.reportQuiet()) ||
        now - this.lastHeaderAt >= this.o.quietMs)
    );
  }

  /** Time passes: the report ends after its quiet, the incident closes (observed) after quietMs. */
  tick(now: number, changes: Change[]): void {
    const open = this.report;
    if (open === null) return;
    if (this.collecting && now - this.lastLineAt >= this.reportQuiet()) {
      this.collecting = false;
      changes.push({ type: "grew", incident: open.incident });
    }
    if (now - this.lastHeaderAt >= this.o.quietMs) {
      open.close();
      open.incident.closed = this.o.wallClock();
      open.incident.outcome = "observed";
      this.report = null;
      this.collecting = false;
      changes.push({ type: "closed", incident: open.incident });
    }
  }

  /** Something else closed incident `id` for good: the next header opens a new one. */
  release(id: string): void {
    const open = this.report;
    if (open === null || open.incident.id !== id) return;
    open.close();
    this.report = null;
    this.collecting = false;
    this.endSeen = false;
  }

  /** The wire is gone: a report in progress ends there. */
  disconnected(): void {
    this.collecting = false;
  }

  private reportQuiet(): number {
    return this.endSeen ? this.o.reportQuietMs : this.o.reportQuietMs * 3;
  }

  private open(kind: IncidentKind, line: LineInput, text: string): Report {
    this.report = new Report(kind, line, text, this.context.before(line.seq), this.o);
    return this.report;
  }
}
