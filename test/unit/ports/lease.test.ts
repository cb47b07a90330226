import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WriterLease } from "../../../src/ports/lease.js";

describe("writer lease", () => {
  it("has one holder, refuses others with LEASE_HELD, lets takeover through, and tells listeners", async () => {
    let now = 1_000;
    const lease = new WriterLease("vm0", () => now);
    let changes = 0;
    lease.onChange(() => (changes += 1));
    const first = lease.take({ holder: "rig", via: "http", ttlMs: 50 }).lease;
    assert.throws(() => lease.take({ holder: "other", via: "websocket" }), { code: "LEASE_HELD" });
    assert.throws(() => lease.check(undefined), { code: "LEASE_HELD" });
    lease.check(first.leaseId);
    const { lease: second, displaced } = lease.take({ holder: "admin", via: "websocket", takeover: true });
    assert.equal(displaced?.holder, "rig");
    assert.equal(lease.release(first.leaseId), false, "a displaced holder cannot release");
    assert.equal(lease.release(second.leaseId), true);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(changes, 3);
    lease.take({ holder: "rig", via: "http", ttlMs: 20 });
    now += 21;
    assert.equal(lease.current, null, "an HTTP lease lapses after its time to live");
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(changes, 5, "and its expiry is announced");
  });
});
