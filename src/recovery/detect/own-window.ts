/**
 * Output that follows our own action belongs to it: after a BREAK, a SysRq key or an NMI the kernel
 * prints dumps we asked for, which must not open incidents. The window stays open while the console
 * keeps printing within ownQuietMs of its last line, and ends ownMaxMs after the action at the latest.
 */
import type { StreamAction } from "../../capture/capture.js";

/** What the daemon sent (a BREAK, a key, an NMI, a power action), as the capture tells it. */
export type OwnAction = StreamAction;

export class OwnWindow {
  private until = -1;
  private startedAt = -1;
  private readonly quietMs: number;
  private readonly maxMs: number;

  constructor(quietMs: number, maxMs: number) {
    this.quietMs = quietMs;
    this.maxMs = maxMs;
  }

  /** Our action went out at `at`. */
  started(at: number): void {
    this.startedAt = at;
    this.until = at + this.quietMs;
  }

  /** A line printed at `at`: true when it is our action's output, which then keeps the window open. */
  owns(at: number): boolean {
    if (this.until < 0) return false;
    if (at <= this.until && at - this.startedAt <= this.maxMs) {
      this.until = at + this.quietMs;
      return true;
    }
    this.until = -1;
    return false;
  }
}
