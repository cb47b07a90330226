import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineLog } from "../../../src/capture/line-log.js";
import { compileUserRegex } from "../../../src/capture/user-regex.js";

const re = (pattern: string) => compileUserRegex(pattern, "match");

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
    // A since past the end is the end.
    assert.deepEqual(log.query(99, 5), { lines: [], next: 14 });
    assert.deepEqual(log.tail(2), {
      lines: [
        { seq: 12, ts: "t", text: "c" },
        { seq: 13, ts: "t", text: "d" },
      ],
      next: 14,
    });
    assert.deepEqual(log.tail(100).lines.length, 3);
  });

  it("wakes a long-poll for a matching line at or after since, and times out otherwise", async () => {
    const log = new LineLog(10, 0);
    log.append("t", "login: old");
    const waiting = log.waitFor(log.next, await re("login:"), 1000);
    log.append("t", "noise");
    log.append("t", "login: new");
    assert.equal((await waiting).found, true);
    assert.equal((await log.waitFor(log.next, await re("never"), 30)).found, false);
  });

  it("ends a long-poll when its request goes away", async () => {
    const log = new LineLog(10, 0);
    const abort = new AbortController();
    const waiting = log.waitFor(0, null, 10_000, abort.signal);
    abort.abort();
    assert.equal((await waiting).found, false);
  });
});

describe("line log kept as received bytes", () => {
  it("decodes a line's bytes when read: UTF-8 with invalid bytes replaced, without CR/LF", async () => {
    const log = new LineLog(2, 0);
    const chunk = Buffer.from("boot: ok\r\ntail");
    log.append("t1", chunk.subarray(0, 10));
    log.append("t2", Buffer.concat([Buffer.from("€ "), Buffer.from([0xff, 0x0a])]));
    assert.deepEqual(log.query(undefined, 10).lines, [
      { seq: 0, ts: "t1", text: "boot: ok" },
      { seq: 1, ts: "t2", text: "€ \ufffd" },
    ]);
    log.append("t3", chunk.subarray(chunk.length - 4));
    assert.deepEqual((await log.read({ limit: 10, match: await re("tail|boot") })).lines, [
      { seq: 2, ts: "t3", text: "tail" },
    ]);
    assert.equal(log.text(2), "tail");
    assert.equal(log.text(0), "", "a line no longer retained has no text");
  });

  it("matches a waiter's pattern against received bytes", async () => {
    const log = new LineLog(10, 0);
    const waiting = log.waitFor(0, await re("login:"), 1000);
    log.append("t", Buffer.from("noise\n"));
    log.append("t", Buffer.from("debian login: \n"));
    assert.equal((await waiting).found, true);
  });
});

describe("user patterns (RE2)", () => {
  it("refuses what RE2 cannot run, naming the field: VALIDATION", async () => {
    for (const pattern of ["(x)\\1", "(?=a)b", "(?<!a)b", "a{1001}", "(", ".{0,300}.{0,300}x"]) {
      await assert.rejects(compileUserRegex(pattern, "match"), (err: unknown) => {
        const e = err as { code?: string; message?: string; details?: { field?: string } };
        assert.equal(e.code, "VALIDATION", pattern);
        assert.equal(e.details?.field, "match");
        assert.match(e.message ?? "", /^match /);
        return true;
      });
    }
  });

  it("runs the patterns that froze V8's engine in linear time", async () => {
    const line = "a".repeat(8000);
    for (const pattern of ["(.|.)*Z", "^(a|a)*Z", "(a|aa)*b", "a*a*a*a*a*a*b", "(a+)+$x"]) {
      const regex = await compileUserRegex(pattern, "match");
      const started = performance.now();
      assert.equal(regex.test(line), false, pattern);
      assert.ok(performance.now() - started < 500, `${pattern} took ${performance.now() - started} ms`);
    }
    assert.equal((await compileUserRegex("(?i)LOGIN:", "match")).test("debian login: "), true);
  });

  it("scans a long log in slices: timers run while it matches", async () => {
    const log = new LineLog(3000, 0);
    const line = `${"x".repeat(8000)}`;
    for (let i = 0; i < 3000; i += 1) log.append("t", i === 2999 ? `${line} login:` : line);
    const regex = await compileUserRegex("(?i)(\\w+\\s*){0,30}login:", "match");
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 1);
    try {
      const page = await log.read({ limit: 10, match: regex });
      assert.deepEqual(
        page.lines.map((l) => l.seq),
        [2999],
      );
      assert.equal(page.next, 3000);
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 3, `the event loop ran ${ticks} timer ticks during the scan`);
  });

  it("stops a scan at its budget with the lines found so far and a next to go on from", async () => {
    const log = new LineLog(400, 0);
    const line = "abcdefghijklmnopqrstuvwxyz0123456789 ZQ!ABCDEFGHIJKLMNOPQRSTUVWXYZ"
      .repeat(121)
      .slice(0, 8000);
    for (let i = 0; i < 400; i += 1) log.append("t", i % 100 === 0 ? `${line} Y!` : line);
    const regex = await compileUserRegex(".{0,145}.{0,145}Y!", "match");
    // A budget spent at once: each read scans its one guaranteed line (a 20 ms budget let a quiet
    // machine scan all 400 lines, so the stop was not exercised).
    const first = await log.read({ limit: 1000, match: regex, budgetMs: 0 });
    assert.ok(first.next > 0 && first.next < 400, `stopped at ${first.next}`);
    const seqs = first.lines.map((l) => l.seq);
    let next = first.next;
    while (next < 400) {
      const page = await log.read({ since: next, limit: 1000, match: regex, budgetMs: 0 });
      assert.ok(page.next > next, "every read makes progress");
      seqs.push(...page.lines.map((l) => l.seq));
      next = page.next;
    }
    assert.deepEqual(seqs, [0, 100, 200, 300]);
  });
});
