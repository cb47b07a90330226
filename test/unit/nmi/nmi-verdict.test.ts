import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { classifyNmiLine } from "../../../src/nmi/verdict.js";

describe("NMI verdict lines", () => {
  it("tells a report from the lines that settle it", () => {
    assert.equal(classifyNmiLine("[   5.1] Uhhuh. NMI received for unknown reason 21 on CPU 0."), "reported");
    assert.equal(classifyNmiLine("[   5.1] Dazed and confused, but trying to continue"), "continuing");
    assert.equal(
      classifyNmiLine("[   5.1] NMI: IOCK error (debug interrupt?) for reason 71 on CPU 0."),
      "continuing",
    );
    assert.equal(
      classifyNmiLine("[   5.1] NMI: PCI system error (SERR) for reason a1 on CPU 0."),
      "continuing",
    );
    assert.equal(classifyNmiLine("[   5.1] Kernel panic - not syncing: NMI: Not continuing"), "panic");
    assert.equal(classifyNmiLine("/ # "), null);
  });
});
