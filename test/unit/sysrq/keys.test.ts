import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { VALID_KEYS, keyAllowedByMask, keyInfo } from "../../../src/sysrq/keys.js";

describe("SysRq key table", () => {
  it("carries each op's enable_mask bit as in drivers/tty/sysrq.c", () => {
    const expected: Record<string, number | null> = { h: null };
    for (const k of "clmpqtwz") expected[k] = 8;
    for (const k of "efij") expected[k] = 64;
    for (const k of "bo") expected[k] = 128;
    for (const k of "0123456789") expected[k] = 2;
    Object.assign(expected, { s: 16, u: 32, k: 4, r: 4, n: 256 });
    for (const [key, bit] of Object.entries(expected)) assert.equal(keyInfo(key).bit, bit, `key ${key}`);
  });

  it("is case-sensitive: R is its own slot, not r", () => {
    assert.notEqual(keyInfo("R").action, keyInfo("r").action);
    assert.equal(keyInfo("X").action, "HELP");
  });

  it("applies kernel.sysrq semantics: 1 all, 0 none but h, otherwise a bitmask", () => {
    assert.ok(keyAllowedByMask("b", 1));
    assert.ok(!keyAllowedByMask("s", 0));
    assert.ok(keyAllowedByMask("h", 0));
    assert.ok(!keyAllowedByMask("t", 438), "438 lacks 8");
    assert.ok(keyAllowedByMask("s", 438));
    assert.ok(keyAllowedByMask("b", 438));
    assert.ok(!keyAllowedByMask("e", 438), "438 lacks 64");
  });

  it("accepts 1-32 keys from 0-9 a-z A-Z only", () => {
    assert.ok(VALID_KEYS.test("reisub"));
    assert.ok(VALID_KEYS.test("R"));
    for (const bad of ["", "a b", "é", "x\n", "a".repeat(33), "!", "true\u0000"])
      assert.ok(!VALID_KEYS.test(bad), JSON.stringify(bad));
  });
});
