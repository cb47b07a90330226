import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { echoedKeyLine, noResponseReason } from "../../../src/sysrq/no-response-reason.js";
import { NO_RESPONSE_REASON } from "../../../src/sysrq/result.js";

describe("no-response reason", () => {
  it("names kernel.sysrq=0 and the key left in the input line when a shell echoed the key", () => {
    // Byte-exact: busybox's prompt ends in ESC [6n, then the echoed key; no sysrq line.
    for (const output of [["/ # \x1b[6nh"], ["/ # h"], ["h"], ["root@vm:~# h\r"], ["login: h"]]) {
      const reason = noResponseReason("h", output);
      assert.match(reason, /echoed the key as typed input/, JSON.stringify(output));
      assert.match(reason, /kernel\.sysrq=0/);
      assert.match(reason, /"h" now sits in the console's input line/);
      assert.notEqual(reason, NO_RESPONSE_REASON);
    }
  });

  it("keeps the three-cause reason when the output does not show the key typed", () => {
    for (const output of [[], ["Finished bash"], ["[  1.0] random: crng init done"], ["shh"]]) {
      assert.equal(echoedKeyLine("h", output), null, JSON.stringify(output));
      assert.equal(noResponseReason("h", output), NO_RESPONSE_REASON);
    }
  });
});
