import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planKey } from "../../../src/sysrq/plan.js";

describe("SysRq wire plan", () => {
  it("sends BREAK then the key when nothing is armed", () => {
    assert.deepEqual(planKey({ armedAt: null }, 1000).steps, [{ type: "break" }, { type: "key" }]);
  });

  it("uses a fresh arm from an earlier plain BREAK: key only", () => {
    const plan = planKey({ armedAt: 1000 }, 3000);
    assert.deepEqual(plan.steps, [{ type: "key" }]);
    assert.match(plan.note ?? "", /2000 ms/);
  });

  it("cancels a stale arm with an extra BREAK and a pause before arming again", () => {
    const plan = planKey({ armedAt: 0 }, 5500);
    assert.deepEqual(plan.steps, [
      { type: "break" },
      { type: "pause", ms: 100 },
      { type: "break" },
      { type: "key" },
    ]);
    assert.match(plan.note ?? "", /5\.5 s/);
  });

  it("treats an arm about to expire as stale (the key needs time to reach the UART)", () => {
    assert.equal(planKey({ armedAt: 0 }, 4800).steps.length, 4);
  });
});
