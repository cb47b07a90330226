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

describe("line log kept as received bytes", () => {
  it("decodes a line's bytes when read: UTF-8 with invalid bytes replaced, without CR/LF", () => {
    const log = new LineLog(2, 0);
    const chunk = Buffer.from("boot: ok\r\ntail");
    log.append("t1", chunk.subarray(0, 10));
    log.append("t2", Buffer.concat([Buffer.from("€ "), Buffer.from([0xff, 0x0a])]));
    assert.deepEqual(log.query(undefined, 10).lines, [
      { seq: 0, ts: "t1", text: "boot: ok" },
      { seq: 1, ts: "t2", text: "€ \ufffd" },
    ]);
    log.append("t3", chunk.subarray(chunk.length - 4));
    assert.deepEqual(log.query(undefined, 10, /tail|boot/).lines, [{ seq: 2, ts: "t3", text: "tail" }]);
    assert.equal(log.text(2), "tail");
    assert.equal(log.text(0), "", "a line no longer retained has no text");
  });

  it("matches a waiter's pattern against received bytes", async () => {
    const log = new LineLog(10, 0);
    const waiting = log.waitFor(0, /login:/, 1000);
    log.append("t", Buffer.from("noise\n"));
    log.append("t", Buffer.from("debian login: \n"));
    assert.equal(await waiting, true);
  });
});
