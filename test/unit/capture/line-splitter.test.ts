import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LineSplitter, MAX_LINE_BYTES, lineText } from "../../../src/capture/line-splitter.js";

interface Line {
  readonly bytes: Buffer;
  readonly offset: number;
  readonly partial: boolean;
}

/** The splitter with its lines collected, as views of the ranges it hands out. */
function collecting(offset: number) {
  const inner = new LineSplitter(offset);
  let lines: Line[] = [];
  const sink = {
    line: (source: Buffer, start: number, end: number, at: number, partial: boolean) =>
      lines.push({ bytes: source.subarray(start, end), offset: at, partial }),
  };
  const taken = (): Line[] => {
    const out = lines;
    lines = [];
    return out;
  };
  return {
    push: (chunk: Buffer): Line[] => {
      inner.push(chunk, sink);
      return taken();
    },
    flushPartial: (): Line | null => {
      inner.flushPartial(sink);
      return taken()[0] ?? null;
    },
  };
}

describe("line splitter", () => {
  it("splits at LF across chunks and keeps byte offsets into the capture", () => {
    const splitter = collecting(100);
    assert.deepEqual(splitter.push(Buffer.from("ab")), []);
    const lines = splitter.push(Buffer.from("c\r\nde\nf"));
    assert.deepEqual(
      lines.map((l) => [l.bytes.toString(), l.offset, l.partial]),
      [
        ["abc\r\n", 100, false],
        ["de\n", 105, false],
      ],
    );
    const partial = splitter.flushPartial();
    assert.deepEqual([partial?.bytes.toString(), partial?.offset, partial?.partial], ["f", 108, true]);
    assert.equal(splitter.flushPartial(), null);
    assert.equal(splitter.push(Buffer.from("g\n"))[0]?.offset, 109);
  });

  it("decodes a UTF-8 character split across chunks once the line is whole, invalid bytes replaced", () => {
    const splitter = collecting(0);
    const euro = Buffer.from("€");
    splitter.push(euro.subarray(0, 1));
    const [line] = splitter.push(Buffer.concat([euro.subarray(1), Buffer.from([0xff, 0x0d, 0x0a])]));
    assert.equal(lineText(line?.bytes ?? Buffer.alloc(0)), "€\ufffd");
  });

  it("hands a flood without newlines out in bounded pieces, offsets contiguous", () => {
    const splitter = collecting(0);
    const lines = [
      ...splitter.push(Buffer.alloc(MAX_LINE_BYTES * 2 + 10, "x")),
      ...splitter.push(Buffer.from("y\n")),
    ];
    assert.deepEqual(
      lines.map((l) => [l.bytes.length, l.offset, l.partial]),
      [
        [MAX_LINE_BYTES, 0, true],
        [MAX_LINE_BYTES, MAX_LINE_BYTES, true],
        [12, MAX_LINE_BYTES * 2, false],
      ],
    );
  });

  it("hands out the lines of one read as ranges of its buffer, those ended by LF before cut ones", () => {
    const inner = new LineSplitter(0);
    const chunk = Buffer.concat([Buffer.from("one\ntwo\n"), Buffer.alloc(MAX_LINE_BYTES + 1, "x")]);
    const seen: { source: Buffer; bytes: string; offset: number; partial: boolean }[] = [];
    inner.push(chunk, {
      line: (source, start, end, offset, partial) =>
        seen.push({ source, bytes: source.toString("latin1", start, end), offset, partial }),
    });
    assert.deepEqual(
      seen.map(({ bytes, offset, partial }) => [bytes, offset, partial]),
      [
        ["one\n", 0, false],
        ["two\n", 4, false],
        ["x".repeat(MAX_LINE_BYTES), 8, true],
      ],
    );
    for (const { source } of seen)
      assert.equal(source.buffer, chunk.buffer, "a range of the read, not a copy");
  });

  it("joins a line read in pieces into a buffer of its own, not a slice of Node's shared pool", () => {
    // The line log keeps a line's buffer: a pool slice would pin the whole slab for as long.
    const splitter = collecting(0);
    splitter.push(Buffer.from("a short line "));
    const partial = splitter.push(Buffer.from("read in two pieces\n"))[0];
    splitter.push(Buffer.from("a prompt "));
    splitter.push(Buffer.from("$ "));
    const prompt = splitter.flushPartial();
    for (const line of [partial, prompt]) {
      assert.ok(line);
      assert.equal(line.bytes.buffer.byteLength, line.bytes.length);
    }
  });
});
