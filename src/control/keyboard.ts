/**
 * SysRq from the target's keyboard: QMP send-key presses Alt+SysRq+key together. The kernel prints
 * its answer on every console, so the verdict still comes from the serial console the port reads.
 */
import type { QmpClient } from "./qmp.js";

/** Keys that have a plain QKeyCode of the same name (lower-case letters and digits). */
export const KEYBOARD_KEYS = /^[0-9a-z]+$/;

export function sysrqKeyCombo(key: string): { type: "qcode"; data: string }[] {
  return ["alt", "sysrq", key].map((data) => ({ type: "qcode" as const, data }));
}

export async function sendSysrqKeyPress(qmp: QmpClient, key: string): Promise<void> {
  await qmp.execute("send-key", { keys: sysrqKeyCombo(key) });
}
