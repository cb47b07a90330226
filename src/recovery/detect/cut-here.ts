/**
 * `------------[ cut here ]------------` (lib/bug.c) comes a few lines before a WARNING's or a kernel
 * BUG's header: the incident starts at the cut line, so its report holds the whole dump. A cut line
 * with no header after it is the kernel's WARN without its header line.
 */
import { CUT_HERE } from "./headers.js";
import type { LineInput } from "./types.js";

/** Lines after `cut here` within which the header it announces must come. */
const CUT_HERE_LINES = 4;

export interface HeldLine {
  readonly line: LineInput;
  readonly text: string;
}

export class CutHere {
  private held: { line: LineInput; text: string; left: number } | null = null;

  /** A cut line waits for its header: every line must be read until it comes or runs out. */
  get pending(): boolean {
    return this.held !== null;
  }

  /**
   * A line that is no header: returns the held cut line when its lines ran out (a WARN without
   * header); holds this line when it is a cut line not `owned` by our own action.
   */
  line(line: LineInput, message: string, text: string, owned: boolean): HeldLine | null {
    let expired: HeldLine | null = null;
    const held = this.held;
    if (held !== null) {
      held.left -= 1;
      if (held.left <= 0) {
        this.held = null;
        expired = held;
      }
    }
    if (CUT_HERE.test(message) && !owned) this.held = { line, text, left: CUT_HERE_LINES };
    return expired;
  }

  /** A header came: the held cut line, where its incident starts, if any. */
  header(): HeldLine | null {
    const held = this.held;
    this.held = null;
    return held;
  }
}
