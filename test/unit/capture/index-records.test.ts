import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IndexRecords } from "../../../src/capture/index-format.js";

describe("capture index records", () => {
  it("encodes line records byte for byte as JSON.stringify would, records of text in call order", () => {
    const records = new IndexRecords();
    const expected: string[] = [];
    const ts = "2026-01-02T03:04:05.678Z";
    const numbers = [0, 7, 9, 10, 99, 100, 65535, 1_000_000, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER];
    for (const [i, n] of numbers.entries()) {
      const partial = i % 2 === 1;
      // One line, as older captures record every line; several received together, "lines" says how many.
      const count = partial ? 1 : ([1, 2, 10, 4097, 2 ** 31 + 5][(i / 2) % 5] ?? 1);
      records.lines(i, ts, n, n % 8192, count, partial);
      expected.push(
        `${JSON.stringify({
          seq: i,
          ts,
          off: n,
          len: n % 8192,
          ...(count !== 1 ? { lines: count } : {}),
          ...(partial ? { partial: true } : {}),
        })}\n`,
      );
      if (i === 4) {
        const gap = `${JSON.stringify({ gap: true, ts, off: n, reason: "disconnected: ECONNRESET – ü" })}\n`;
        records.mark({ kind: "gap", ts, off: n, reason: "disconnected: ECONNRESET – ü" });
        expected.push(gap);
      }
    }
    assert.equal(records.take().toString(), expected.join(""));
    assert.equal(records.empty, true);
    assert.equal(records.take().length, 0);
  });

  it("never writes over bytes already taken (a write may still hold them), across growth", () => {
    const records = new IndexRecords();
    const taken: { bytes: Buffer; text: string }[] = [];
    let seq = 0;
    for (let batch = 0; batch < 50; batch += 1) {
      // Batches of growing size force the buffer to grow several times.
      for (let n = 0; n < batch * 7; n += 1)
        records.lines(seq++, "2026-01-02T03:04:05.678Z", seq * 256, 256, 1, false);
      const bytes = records.take();
      taken.push({ bytes, text: bytes.toString() });
    }
    for (const { bytes, text } of taken) assert.equal(bytes.toString(), text);
    const lines = taken
      .map((t) => t.text)
      .join("")
      .split("\n")
      .filter(Boolean);
    assert.equal(lines.length, seq);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { seq: number }).seq),
      Array.from({ length: seq }, (_, i) => i),
    );
  });
});
