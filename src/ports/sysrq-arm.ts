/**
 * What the target's serial_core believes about the line: whether a BREAK has armed SysRq (the next
 * byte within 5 s runs as a key), who sent that BREAK, and when a byte last went out that the target
 * may not have read yet (a byte written just before a BREAK can become the key, so BREAKs wait for a
 * quiet line).
 */
import type { Clock } from "../clock.js";
import { SYSRQ_ARM_WINDOW_MS } from "../sysrq/plan.js";

export class SysrqArm {
  private armedAtValue: number | null = null;
  private armOwnerValue: string | null = null;
  private lastWriteAtValue = Number.NEGATIVE_INFINITY;

  constructor(private readonly clock: Clock) {}

  get armedAt(): number | null {
    return this.armedAtValue;
  }

  /** When the last byte the target may not have read yet went out (-Infinity: none). */
  get lastWriteAt(): number {
    return this.lastWriteAtValue;
  }

  /** Milliseconds since the arming BREAK while the arm is live, else null. */
  armedFor(): number | null {
    if (this.armedAtValue === null) return null;
    const age = this.clock.now() - this.armedAtValue;
    return age < SYSRQ_ARM_WINDOW_MS ? age : null;
  }

  /** True when `owner` sent the BREAK that armed the line and the arm is still live. */
  armedBy(owner: string): boolean {
    return this.armedFor() !== null && this.armOwnerValue === owner;
  }

  breakSent(owner: string | null): void {
    this.armedAtValue = this.clock.now();
    this.armOwnerValue = owner;
  }

  /** A byte went out: it consumed any arm. */
  byteSent(): void {
    this.armedAtValue = null;
    this.armOwnerValue = null;
    this.lastWriteAtValue = this.clock.now();
  }

  /** The target answered what was sent (a SysRq verdict): every byte written so far has been read. */
  writesRead(): void {
    this.lastWriteAtValue = Number.NEGATIVE_INFINITY;
  }

  /** The link was (re)opened or lost: the target's state is unknown, assume unarmed. */
  reset(): void {
    this.armedAtValue = null;
    this.armOwnerValue = null;
  }
}
