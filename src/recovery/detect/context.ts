/**
 * The lines before a trigger, copied into an incident's context. The capture's line index can supply
 * them (options.contextOf); without it the classifier keeps the last few lines it decoded itself.
 */
export class ContextLines {
  private readonly kept: string[] = [];
  private readonly lines: number;
  private readonly contextOf: ((seq: number, lines: number) => string[]) | undefined;

  constructor(lines: number, contextOf: ((seq: number, lines: number) => string[]) | undefined) {
    this.lines = lines;
    this.contextOf = contextOf;
  }

  /** The lines before line `seq`, oldest first (seq < 0: a trigger that is no console line). */
  before(seq: number): readonly string[] {
    return this.contextOf && seq >= 0 ? this.contextOf(seq, this.lines) : this.kept;
  }

  remember(text: string): void {
    if (this.contextOf) return;
    this.kept.push(text);
    if (this.kept.length > this.lines) this.kept.shift();
  }
}
