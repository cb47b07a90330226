/**
 * A BREAK as a program understands it: conserver's break-string grammar, parsed once at config load
 * (after YAML, so single-quoted YAML keeps every backslash for this parser).
 *
 *   \d     pause delayMs            \ooo   one byte, exactly three octal digits (\035 is ^])
 *   \r \n \t \a \b \f \v \\ \'      as in conserver            \z  refused: a pty cannot carry a break
 */

/** One step of a BREAK sequence: bytes written to the program, or a pause of the sequence's delayMs. */
export type BreakStep = { readonly kind: "bytes"; readonly bytes: Buffer } | { readonly kind: "pause" };

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  r: 0x0d,
  n: 0x0a,
  t: 0x09,
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  v: 0x0b,
  "\\": 0x5c,
  "'": 0x27,
};

/** Thrown for a sequence that is not in the grammar; the message names the offending escape. */
export class BreakSequenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BreakSequenceError";
  }
}

/** Parses `text` (characters above U+00FF are written as UTF-8) into steps; adjacent bytes merge. */
export function parseBreakSequence(text: string): BreakStep[] {
  const steps: BreakStep[] = [];
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length > 0) steps.push({ kind: "bytes", bytes: Buffer.from(pending) });
    pending = [];
  };
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i] ?? "";
    if (char !== "\\") {
      pending.push(...Buffer.from(char, char.charCodeAt(0) > 0xff ? "utf8" : "latin1"));
      continue;
    }
    const next = text[i + 1];
    if (next === undefined) throw new BreakSequenceError("ends in a lone backslash (write \\\\ for one)");
    i += 1;
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      pending.push(simple);
    } else if (next === "d") {
      flush();
      steps.push({ kind: "pause" });
    } else if (next === "z") {
      throw new BreakSequenceError(
        "\\z (a serial break) cannot be sent through a program's stdin or a pty; write the bytes the program turns into a break",
      );
    } else if (/[0-7]/.test(next)) {
      const digits = text.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(digits)) {
        throw new BreakSequenceError(
          `\\${digits.match(/^[0-7]+/)?.[0] ?? next}: an octal escape takes exactly three digits (\\035)`,
        );
      }
      const value = Number.parseInt(digits, 8);
      if (value > 0xff)
        throw new BreakSequenceError(`\\${digits}: an octal escape is one byte, at most \\377`);
      pending.push(value);
      i += 2;
    } else {
      throw new BreakSequenceError(
        `\\${next}: not an escape of the break grammar (\\d \\ooo \\r \\n \\t \\a \\b \\f \\v \\\\ \\')`,
      );
    }
  }
  flush();
  if (steps.length === 0) throw new BreakSequenceError("is empty");
  return steps;
}

/** The sequence as config shows it (for GET /ports and logs): the escapes kept as written. */
export function describeBreakSteps(steps: readonly BreakStep[]): string {
  return steps
    .map((step) =>
      step.kind === "pause"
        ? "\\d"
        : [...step.bytes]
            .map((byte) => {
              const named = Object.entries(SIMPLE_ESCAPES).find(([, value]) => value === byte)?.[0];
              if (named) return `\\${named}`;
              return byte >= 0x20 && byte < 0x7f
                ? String.fromCharCode(byte)
                : `\\${byte.toString(8).padStart(3, "0")}`;
            })
            .join(""),
    )
    .join("");
}
