/** The checks a SysRq request passes before anything is queued or sent. */
import { BridgeError } from "../errors.js";
import { VALID_KEYS, keyAllowedByMask } from "./keys.js";

export function checkKeysSendable(keys: string, sysrqMask: number): void {
  if (!VALID_KEYS.test(keys)) {
    throw new BridgeError("INVALID_KEY", "keys must be 1-32 characters from 0-9 a-z A-Z (case-sensitive)");
  }
  const refused = [...keys].filter((key) => !keyAllowedByMask(key, sysrqMask));
  if (refused.length > 0) {
    throw new BridgeError(
      "KEY_NOT_ALLOWED",
      `key(s) ${refused.join(", ")} are outside this port's sysrqMask ${sysrqMask}; nothing was sent`,
      { details: { refused: refused.join("") } },
    );
  }
}
