/**
 * One incident and its report as the console prints it: lines kept within maxReportChars (context and
 * report together, the file copy stays bounded), the last header's span grown to each line's end, and
 * lines nobody needed decoded kept as bytes (raw-lines.ts) until the report is read.
 */
import { lineText } from "../../capture/line-splitter.js";
import type { IncidentKind } from "./headers.js";
import { reportText } from "./kernel-line.js";
import { RawLines } from "./raw-lines.js";
import type { DetectedIncident, LineInput, Span } from "./types.js";
import type { PatternHit } from "./user-patterns.js";

export interface ReportOptions {
  readonly maxReportChars: number;
  readonly newId: () => string;
  readonly wallClock: () => string;
}

export class Report {
  readonly incident: DetectedIncident;
  /** The report hit the bound (the incident's `truncated`, kept here for the line path). */
  private full = false;
  private chars = 0;
  private readonly lines: string[] = [];
  private readonly raw = new RawLines();
  /** The incident's last span, which each new line extends. */
  private span: Span | null;
  private readonly max: number;

  /** Opens an incident of `kind` triggered by `line` (its `text`), with the lines `before` it. */
  constructor(
    kind: IncidentKind,
    line: LineInput,
    text: string,
    before: readonly string[],
    o: ReportOptions,
  ) {
    this.max = o.maxReportChars;
    const context: string[] = [];
    for (const c of before) {
      if (this.chars + c.length > this.max) break;
      context.push(c);
      this.chars += c.length;
    }
    const lines = this.lines;
    // Reading the report decodes the lines kept as bytes first.
    const decode = (): void => this.decode();
    this.incident = {
      id: o.newId(),
      kinds: [kind],
      state: "open",
      opened: o.wallClock(),
      trigger: { line: text, seq: line.seq, offset: line.offset },
      get report(): string[] {
        decode();
        return lines;
      },
      context,
      spans: line.offset >= 0 ? [{ kind, start: line.offset, end: line.end }] : [],
      patterns: [],
      truncated: false,
    };
    this.span = this.incident.spans[0] ?? null;
  }

  /** A later header joins the incident (one failure, one incident): a new span starts at its line. */
  join(kind: IncidentKind, line: LineInput, pattern: PatternHit | null): void {
    const incident = this.incident;
    this.addKind(kind);
    if (pattern && !incident.patterns.some((p) => p.name === pattern.name)) incident.patterns.push(pattern);
    this.span = { kind, start: line.offset, end: line.end };
    incident.spans.push(this.span);
  }

  /** A detector beside the console joins: no console line, so no span of its own. */
  addKind(kind: IncidentKind): void {
    if (!this.incident.kinds.includes(kind)) this.incident.kinds.push(kind);
  }

  append(line: LineInput, text: string): void {
    this.spanTo(line.end);
    this.decode();
    this.keep(text);
  }

  /** A report line kept as bytes: decoded later, unless it reaches the bound, where its length decides now. */
  appendRaw(source: Buffer, start: number, end: number, endOffset: number): void {
    this.spanTo(endOffset);
    if (this.full) return;
    // Bytes are never fewer than the characters they decode to: within the bound as bytes, within it as text.
    if (this.chars + this.raw.length + end - start <= this.max) this.raw.push(source, start, end);
    else {
      this.decode();
      this.keep(reportText(lineText(source.subarray(start, end))));
    }
  }

  /** The incident takes no more lines: its report is decoded and the bytes let go. */
  close(): void {
    this.decode();
    this.raw.release();
    this.incident.state = "closed";
  }

  private spanTo(end: number): void {
    const span = this.span;
    if (span !== null && end > span.end) span.end = end;
  }

  /** Lines past the bound are left out, and so is every later one: the report stays one piece. */
  private keep(text: string): void {
    if (this.full) return;
    if (this.chars + text.length > this.max) {
      this.incident.truncated = true;
      this.full = true;
      return;
    }
    this.chars += text.length;
    this.lines.push(text);
  }

  private decode(): void {
    if (this.raw.length === 0) return;
    this.raw.drain((text) => this.keep(text));
  }
}
