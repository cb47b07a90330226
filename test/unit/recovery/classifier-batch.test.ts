/**
 * The crash classifier fed a read's lines in one call (Classifier.linesBytes, as the daemon's watcher
 * gets them from capture/line-batch.ts) decides exactly as when fed line by line (lineBytes), over
 * random transcripts of the real guest's output, read sizes, waits, our own actions and reconnects.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { LineBatch, type LineObserver } from "../../../src/capture/line-batch.js";
import { LineSplitter, lineText } from "../../../src/capture/line-splitter.js";
import { Classifier, type Change } from "../../../src/recovery/detect/classifier.js";

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

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`../../fixtures/crash/${name}.bin`, import.meta.url));

const PIECES: (string | Buffer)[] = [
  fixture("boot"),
  fixture("userspace"),
  fixture("break-l"),
  fixture("nmi"),
  fixture("oom"),
  fixture("panic"),
  "[   41.1] WARNING: CPU: 1 PID: 123 at kernel/foo.c:10 foo+0x1/0x2\r\n",
  "[   41.1] INFO: task sh:96 blocked for more than 3 seconds.\r\n",
  "/ # \x1b[6n[   41.1] Kernel panic - not syncing: Fatal exception\r\n",
  "[   50.000001] ------------[ cut here ]------------\r\n[   50.000002] Modules linked in:\r\n",
  "[   60.1] \x1b[1mCall Trace:\x1b[0m\r\n[   60.2]  end trace 0123abcd ]---\r\n",
  "SeaBIOS (version 1.16.2)\r\n",
  "[    0.000000] Linux version 6.1.0 (x)\r\n[    0.100000] Command line: x\r\n",
  "[    9.000000] reboot: Restarting system\r\n",
  "[   70.000000] spam spam spam spam spam spam spam spam\r\n".repeat(400),
  `[   71.000000] ${"x".repeat(9000)}`, // longer than the splitter's MAX_LINE_BYTES: cut in pieces
  "BUG: userspace says so\r\n/ # ",
];

/** One console replayed into a classifier, its lines in batches (`batched`) or one call each. */
function replay(seed: number, batched: boolean): string {
  const next = random(seed);
  let now = 1000;
  let n = 0;
  const texts: string[] = [];
  const classifier = new Classifier(
    {
      quietMs: 30_000,
      silenceMs: 0,
      patterns: [],
      maxReportChars: 8000,
      newId: () => `i${++n}`,
      contextOf: (seq, lines) => texts.slice(Math.max(0, seq - lines), seq),
      wallClock: () => new Date(now).toISOString(),
    },
    now,
  );
  classifier.connected(now);
  const changes: Change[] = [];
  const observer: LineObserver = {
    lines: (seq, source, start, ends, count, offset, at) =>
      changes.push(...classifier.linesBytes(seq, source, start, ends, count, offset, at)),
    action: () => undefined,
    gap: () => undefined,
  };
  const batch = new LineBatch();
  let seq = 0;
  const splitter = new LineSplitter(0);
  const sink = {
    line: (source: Buffer, start: number, end: number, offset: number) => {
      texts.push(lineText(source.subarray(start, end)));
      if (batched) batch.add([observer], seq, source, start, end, offset, now);
      else changes.push(...classifier.lineBytes(seq, source, start, end, offset, now));
      seq += 1;
    },
  };
  const maxRead = [1, 300, 4000, 70_000][seed % 4] as number;
  for (let step = 0; step < 80; step += 1) {
    switch (next(5)) {
      case 0:
      case 1:
      case 2: {
        const piece = PIECES[next(PIECES.length)] as string | Buffer;
        const buf = typeof piece === "string" ? Buffer.from(piece, "latin1") : piece;
        for (let at = 0; at < buf.length;) {
          const size = 1 + next(maxRead);
          splitter.push(buf.subarray(at, at + size), sink);
          batch.flush([observer]); // what the capture does after each read
          at += size;
          now += 1;
        }
        if (next(2) === 0) {
          now += 150; // a pause: the capture hands out the line begun (a prompt)
          splitter.flushPartial(sink);
          batch.flush([observer]);
        }
        break;
      }
      case 3:
        now += [5, 300, 2100, 6500, 31_000][next(5)] as number;
        changes.push(...classifier.tick(now));
        break;
      default: {
        const actions = [{ kind: "key", key: "l" }, { kind: "key", key: "b" }, { kind: "nmi" }] as const;
        classifier.action(actions[next(actions.length)] as (typeof actions)[number], now);
      }
    }
  }
  now += 40_000;
  changes.push(...classifier.tick(now));
  return JSON.stringify(changes.map((c) => [c.type, c.incident]));
}

describe("crash classifier: a read's lines in one call", () => {
  for (const seed of [2, 5, 13, 40, 71, 123]) {
    it(`decides as line by line: kinds, report spans and offsets, joins (seed ${seed})`, () => {
      const single = replay(seed, false);
      const batched = replay(seed, true);
      let at = 0;
      while (at < single.length && single[at] === batched[at]) at += 1;
      assert.ok(batched === single, `differ at ${at}: ${single.slice(at - 200, at + 200)}`);
      assert.ok(single.includes('"opened"'), "something opened");
    });
  }
});
