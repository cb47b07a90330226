/** A port's guard rails: cooldown, the hourly budget that quarantines, and lifting it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { PortGuard } from "../../../src/recovery/quarantine.js";

describe("port guard", () => {
  it("cooldown: automatic triggers within cooldownMs of a ladder's end are ignored", () => {
    const guard = new PortGuard();
    assert.equal(guard.cooling(0, 60_000), false, "no ladder yet");
    guard.running = true;
    assert.equal(guard.health, "recovering");
    guard.ended(1000);
    assert.equal(guard.health, "good");
    assert.equal(guard.cooling(60_999, 60_000), true);
    assert.equal(guard.cooling(61_000, 60_000), false);
  });

  it("the ladder past maxPerHour within an hour quarantines (bad) until lifted; older ones age out", () => {
    const guard = new PortGuard();
    assert.equal(guard.admit(0, 2), true);
    assert.equal(guard.admit(10, 2), true);
    assert.equal(guard.admit(3_600_000, 2), true, "the first aged out of the hour");
    assert.equal(guard.admit(3_600_005, 2), false);
    assert.deepEqual([guard.quarantined, guard.health], [true, "bad"]);
    assert.equal(guard.lift(), true);
    assert.deepEqual([guard.quarantined, guard.health], [false, "good"]);
    assert.equal(guard.lift(), false, "not quarantined any more");
    assert.equal(guard.admit(3_600_006, 2), true, "the count started again");
  });
});
