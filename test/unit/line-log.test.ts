import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineLog } from "../../src/ports/line-log.js";

describe("line log", () => {
  it("keeps the newest lines up to its capacity, numbered by seq", () => {
    const log = new LineLog(3, 10);
    for (const text of ["a", "b", "c", "d"]) log.append("t", text);
    assert.deepEqual(log.query(undefined, 100), {
      lines: [
        { seq: 11, ts: "t", text: "b" },
        { seq: 12, ts: "t", text: "c" },
        { seq: 13, ts: "t", text: "d" },
      ],
      next: 14,
    });
    assert.deepEqual(log.query(12, 1), { lines: [{ seq: 12, ts: "t", text: "c" }], next: 13 });
    assert.deepEqual(log.query(99, 5), { lines: [], next: 99 });
  });

  it("wakes a long-poll for a matching line at or after since, and times out otherwise", async () => {
    const log = new LineLog(10, 0);
    log.append("t", "login: old");
    const waiting = log.waitFor(log.next, /login:/, 1000);
    log.append("t", "noise");
    log.append("t", "login: new");
    assert.equal(await waiting, true);
    assert.equal(await log.waitFor(log.next, /never/, 30), false);
  });

  it("ends a long-poll when its request goes away", async () => {
    const log = new LineLog(10, 0);
    const abort = new AbortController();
    const waiting = log.waitFor(0, null, 10_000, abort.signal);
    abort.abort();
    assert.equal(await waiting, false);
  });
});
