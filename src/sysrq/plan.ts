/**
 * Which wire steps deliver one SysRq key, given what the port last did. Pure: time comes in.
 *
 * serial8250 + serial_core: a BREAK arms SysRq on the console port; the next byte received within
 * 5 s is the key. The arm does not expire by itself: it lasts until a byte arrives (after 5 s that
 * byte is plain input), and a BREAK while armed cancels it and reaches the console as a normal break.
 * Two BREAKs with no pause merge into one at the UART.
 *
 *   not armed             ->  BREAK, key
 *   armed < 5 s ago       ->  key                    (the earlier BREAK's arm is used)
 *   armed >= 5 s ago      ->  BREAK, pause, BREAK, key   (cancel the stale arm first)
 */
export const SYSRQ_ARM_WINDOW_MS = 5000;
/** Margin for the key's own trip to the UART: an arm this close to expiry is treated as stale. */
export const ARM_SAFETY_MARGIN_MS = 500;
/** Pause between the cancelling BREAK and the arming one (measured: 0.1 s keeps them apart). */
export const CANCEL_PAUSE_MS = 100;

/**
 * Quiet time on the line before a BREAK. QEMU's UART attaches a break to whatever byte is first in the
 * guest's unread receive buffer: a byte sent a few ms before the BREAK becomes the SysRq key and the
 * intended key lands as typed input (measured on the test guest: 1-5 ms fails, 10 ms and more works).
 */
export const QUIET_BEFORE_BREAK_MS = 20;

export type WireStep =
  { readonly type: "break" } | { readonly type: "pause"; readonly ms: number } | { readonly type: "key" };

export interface ArmState {
  /** Monotonic time (ms) of a BREAK that armed SysRq and has not been followed by any byte; null if none. */
  readonly armedAt: number | null;
}

export interface KeyPlan {
  readonly steps: readonly WireStep[];
  /** Said in the result when the plan differs from plain BREAK + key. */
  readonly note?: string;
}

/**
 * How a key reaches the kernel: over the serial line after a BREAK, or as Alt+SysRq+key on the
 * target's keyboard (QMP send-key), which needs no BREAK and has no arm state.
 */
export type SysrqDelivery = "break" | "keyboard";

export function planKey(arm: ArmState, now: number, delivery: SysrqDelivery = "break"): KeyPlan {
  if (delivery === "keyboard") return { steps: [{ type: "key" }] };
  if (arm.armedAt === null) return { steps: [{ type: "break" }, { type: "key" }] };
  const age = now - arm.armedAt;
  if (age < SYSRQ_ARM_WINDOW_MS - ARM_SAFETY_MARGIN_MS) {
    return {
      steps: [{ type: "key" }],
      note: `used the SysRq arm of a BREAK sent ${Math.round(age)} ms earlier; no new BREAK was sent`,
    };
  }
  return {
    steps: [{ type: "break" }, { type: "pause", ms: CANCEL_PAUSE_MS }, { type: "break" }, { type: "key" }],
    note: `a BREAK sent ${(age / 1000).toFixed(1)} s earlier had left SysRq armed; an extra BREAK cancelled it first (the console saw that one as a normal break)`,
  };
}
