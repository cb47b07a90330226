/**
 * What the SysRq runner needs from a port, and nothing more: a way to put a BREAK and a key on the
 * wire, the port's arm state, and a feed of console lines. Implemented by ports/port-link.ts (keyboard
 * SysRq: control/qmp-wire.ts), faked in unit tests.
 */
import type { ArmState, SysrqDelivery } from "./plan.js";

export type ConsoleEvent =
  | { readonly type: "line"; readonly text: string; readonly at: number }
  | { readonly type: "disconnected"; readonly at: number };

export interface ConsoleFeed {
  /** Delivers every event from now on until the returned function is called. */
  subscribe(listener: (event: ConsoleEvent) => void): () => void;
  /** Monotonic time of the last byte received (for "idle for settleMs"). */
  lastActivityAt(): number;
}

export interface SysrqWire {
  readonly delivery: SysrqDelivery;
  armState(): ArmState;
  sendBreak(holdMs: number): Promise<void>;
  /** Delivers one key: a data byte after a BREAK (the port clears its arm state), or a key press. */
  sendKey(key: string): Promise<void>;
  /** A BREAK then the key in one wire operation, where the wire can (else the runner does both). */
  sendBreakAndKey?(holdMs: number, key: string): Promise<void>;
  /**
   * The kernel answered the key just sent: the target has read every byte written so far, so the
   * next BREAK need not wait for a quiet line.
   */
  keyAnswered?(): void;
}
