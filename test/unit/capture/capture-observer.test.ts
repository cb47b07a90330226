/**
 * What the capture hands its observers (the crash watcher): every line once, in stream order, in one
 * call per read (capture/line-batch.ts), with the line log's seq, its capture offset and its read's
 * time; lines cut at a pause or at MAX_LINE_BYTES and lines joined from several reads included; our
 * actions and gaps between the lines where they happened.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Capture } from "../../../src/capture/capture.js";
import { lineText } from "../../../src/capture/line-splitter.js";

function random(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

type Seen =
  | { kind: "line"; seq: number; offset: number; bytes: Buffer; at: number; call: number }
  | { kind: "action" | "gap" };

describe("capture observers", () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`get every line once, in order, with seq, offset and time, one call per read (seed ${seed})`, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-observer-"));
      try {
        const capture = await Capture.open(dir, "o", {
          retainLines: 100_000,
          rotation: { rotateBytes: 2 ** 32, maxTotalBytes: 2 ** 34 },
          log: pino({ level: "silent" }),
        });
        const seen: Seen[] = [];
        let calls = 0;
        capture.observe({
          lines: (seq, source, start, ends, count, offset, at) => {
            calls += 1;
            let from = start;
            for (let i = 0; i < count; i += 1) {
              const to = ends[i] as number;
              seen.push({
                kind: "line",
                seq: seq + i,
                offset: offset + from - start,
                bytes: Buffer.from(source.subarray(from, to)),
                at,
                call: calls,
              });
              from = to;
            }
          },
          action: () => seen.push({ kind: "action" }),
          gap: () => seen.push({ kind: "gap" }),
        });
        const next = random(seed);
        const stream: Buffer[] = [];
        const expected: ("action" | "gap" | number)[] = []; // stream offsets where an event came
        let size = 0;
        const readsAt: number[] = [];
        for (let step = 0; step < 400; step += 1) {
          const r = next(20);
          if (r === 0) {
            capture.noteAction({ kind: "key", key: "l" });
            expected.push("action", size);
          } else if (r === 1) {
            capture.markGap("test"); // also hands out the line begun
            expected.push("gap", size);
          } else {
            const parts: string[] = [];
            for (let k = next(40); k > 0; k -= 1)
              parts.push(
                ["a", "bb\n", "ccc\r\n", "\n", "x".repeat(next(3000)), "[ 1.0] y\r\n"][next(6)] as string,
              );
            if (next(50) === 0) parts.push("z".repeat(9000)); // past MAX_LINE_BYTES without an LF
            const chunk = Buffer.from(parts.join(""), "latin1");
            if (chunk.length === 0) continue;
            const at = 1000 + step;
            stream.push(chunk);
            readsAt.push(at);
            size += chunk.length;
            capture.append(chunk, at);
          }
        }
        await capture.close(); // hands out the last line begun
        const lines = seen.filter((s): s is Extract<Seen, { kind: "line" }> => s.kind === "line");
        // Every byte once, in order, each line at the offset where the previous one ended.
        assert.deepEqual(Buffer.concat(lines.map((l) => l.bytes)), Buffer.concat(stream), "the stream, once");
        let offset = 0;
        for (const [i, line] of lines.entries()) {
          assert.equal(line.offset, offset, `line ${i}'s offset`);
          assert.equal(line.seq, i, `line ${i}'s seq`);
          assert.equal(capture.lines.text(line.seq), lineText(line.bytes), `line ${i} is the log's line`);
          offset += line.bytes.length;
        }
        // Events between the lines where they happened: lines ended by then came before, the rest after.
        let cursor = 0;
        for (let e = 0; e < expected.length; e += 2) {
          const kind = expected[e] as "action" | "gap";
          const at = expected[e + 1] as number;
          const index = seen.findIndex((s, i) => i >= cursor && s.kind === kind);
          assert.ok(index !== -1, `${kind} ${e / 2} seen`);
          const ends = (from: number, to: number): number[] =>
            seen.slice(from, to).flatMap((s) => (s.kind === "line" ? [s.offset + s.bytes.length] : []));
          assert.ok(
            ends(0, index).every((end) => end <= at),
            `lines before ${kind} ${e / 2} end by ${at}`,
          );
          assert.ok(
            ends(index + 1, seen.length).every((end) => end >= at),
            `lines after ${kind} ${e / 2}`,
          );
          // A gap hands out the line begun first: every byte before it is in a line before it.
          if (kind === "gap")
            assert.equal(ends(0, index).at(-1) ?? 0, at, `lines through ${at} before the gap`);
          cursor = index + 1;
        }
        // One call per read: a call's lines share a time; far fewer calls than lines.
        const perCall = new Map<number, Set<number>>();
        for (const line of lines)
          (perCall.get(line.call) ?? perCall.set(line.call, new Set()).get(line.call))?.add(line.at);
        for (const [call, times] of perCall) assert.equal(times.size, 1, `call ${call} has one time`);
        assert.ok(calls < lines.length / 3, `${calls} calls for ${lines.length} lines`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
