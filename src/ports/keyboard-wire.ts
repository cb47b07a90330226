/** SysRq as Alt+SysRq+key presses through QMP send-key: no BREAK, no arm state. */
import { sendSysrqKeyPress } from "../control/keyboard.js";
import type { QmpClient } from "../control/qmp.js";
import { BridgeError } from "../errors.js";
import type { SysrqWire } from "../sysrq/console.js";

export function keyboardWire(qmp: QmpClient): SysrqWire {
  return {
    delivery: "keyboard",
    armState: () => ({ armedAt: null }),
    sendBreak: () => Promise.reject(new Error("a keyboard SysRq port sends no BREAK")),
    sendKey: async (key) => {
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
