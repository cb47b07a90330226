import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BreakSequenceError,
  describeBreakSteps,
  parseBreakSequence,
  type BreakStep,
} from "../../../src/config/break-sequence.js";

function bytes(text: string): BreakStep {
  return { kind: "bytes", bytes: Buffer.from(text, "latin1") };
}
const pause: BreakStep = { kind: "pause" };

function refused(text: string, match: RegExp): void {
  assert.throws(
    () => parseBreakSequence(text),
    (err: unknown) => {
      assert.ok(err instanceof BreakSequenceError, `${text}: a BreakSequenceError`);
      assert.match(err.message, match, `${text}: the message names the escape`);
      return true;
    },
  );
}

describe("conserver break-string grammar", () => {
  it("parses telnet's send brk", () => {
    assert.deepEqual(parseBreakSequence("\\035send brk\\r"), [bytes("\x1dsend brk\r")]);
  });

  it("splits at \\d pauses, ipmitool's ~B after a CR", () => {
    assert.deepEqual(parseBreakSequence("\\r\\d~B"), [bytes("\r"), pause, bytes("~B")]);
    assert.deepEqual(parseBreakSequence("\\d\\d"), [pause, pause]);
  });

  it("knows every conserver character escape", () => {
    assert.deepEqual(parseBreakSequence("\\r\\n\\t\\a\\b\\f\\v\\\\\\'"), [bytes("\r\n\t\x07\b\f\v\\'")]);
  });

  it("takes three octal digits, the full byte range", () => {
    assert.deepEqual(parseBreakSequence("\\000\\377\\101x"), [bytes("\x00\xffAx")]);
  });

  it("refuses short octal escapes and those above one byte", () => {
    refused("\\35", /\\35: .*exactly three digits/);
    refused("a\\0", /\\0: .*exactly three digits/);
    refused("\\03x", /\\03: .*exactly three digits/);
    refused("\\400", /\\400: .*at most \\377/);
  });

  it("refuses \\z: a pty cannot carry a break", () => {
    refused("\\z", /\\z .*cannot be sent/);
  });

  it("refuses every other escape, naming it", () => {
    for (const [text, named] of [
      ["\\x1d", "\\x"],
      ["\\e", "\\e"],
      ['\\"', '\\"'],
      ["\\ ", "\\ "],
      ["\\N", "\\N"],
      ["\\8", "\\8"],
      ["\\0x", "\\0"],
    ] as const) {
      assert.throws(
        () => parseBreakSequence(text),
        (err: unknown) => err instanceof BreakSequenceError && err.message.startsWith(`${named}:`),
        `${text} is refused naming ${named}`,
      );
    }
  });

  it("refuses a trailing backslash and an empty sequence", () => {
    refused("abc\\", /lone backslash/);
    refused("", /empty/);
  });

  it("writes non-Latin-1 characters as UTF-8", () => {
    assert.deepEqual(parseBreakSequence("€"), [{ kind: "bytes", bytes: Buffer.from("€", "utf8") }]);
  });

  it("describes steps back in the grammar", () => {
    assert.equal(describeBreakSteps(parseBreakSequence("\\035send brk\\r")), "\\035send brk\\r");
    assert.equal(describeBreakSteps(parseBreakSequence("\\r\\d~B")), "\\r\\d~B");
  });
});
