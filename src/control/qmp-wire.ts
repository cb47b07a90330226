/** What ports do through QMP instead of the serial wire: a BREAK, or SysRq as key presses. */
import { sendSysrqKeyPress } from "./keyboard.js";
import { qmpBreak, type QmpClient } from "./qmp.js";
import { BridgeError } from "../errors.js";

/**
 * A UART break in the guest through QMP chardev-send-break. Not a serial-wire operation: QMP has its
 * own deadline, and a slow QMP is no reason to reset the serial link.
 */
export async function qmpSerialBreak(qmp: QmpClient, chardev: string): Promise<void> {
  try {
    await qmpBreak(qmp, chardev);
  } catch (err) {
    throw new BridgeError("PORT_UNAVAILABLE", `QMP chardev-send-break failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * SysRq as Alt+SysRq+key presses through QMP send-key: no BREAK, no arm state. A SysrqWire by shape
 * (control/ sits below sysrq/ and does not import it; ports/ checks the type where it uses this).
 * `sending(key)` runs just before each press: the port tells its crash watcher the answer is ours.
 */
export function keyboardWire(qmp: QmpClient, sending: (key: string) => void) {
  return {
    delivery: "keyboard" as const,
    armState: () => ({ armedAt: null }),
    sendBreak: () => Promise.reject(new Error("a keyboard SysRq port sends no BREAK")),
    sendKey: async (key: string) => {
      sending(key);
      try {
        await sendSysrqKeyPress(qmp, key);
      } catch (err) {
        throw new BridgeError("PORT_UNAVAILABLE", `QMP send-key failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
  };
}
