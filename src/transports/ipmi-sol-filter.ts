/**
 * Keeps ipmitool's own lines out of an SOL console's capture. `ipmitool sol activate` prints, on the
 * same stdout as the target's bytes, whole lines of its own at a line start:
 *
 *   [SOL Session operational.  Use ~? for help]      ~B [send break]      ~. [terminated ipmitool]
 *
 * A line start (or a `~` anywhere: the target's prompt may leave no line end before `~B [send
 * break]`) that may become one of them is held (at most MAX_HELD bytes, across reads) until it is
 * told apart; then it is dropped with its line end, or released unchanged. Nothing else waits.
 * `onBanner` is told when the session banner went by: the session is up.
 */
import type { OutputFilter } from "./exec.js";

/** The beginnings of ipmitool's own lines (ipmi_sol.c), with its default escape `~`. */
export const IPMITOOL_LINE_PREFIXES: readonly string[] = [
  "[SOL Session operational.",
  "[terminated ipmitool]",
  "~B [send break]",
  "~. [terminated ipmitool]",
];

/** A held line longer than this is the target's, released as it is. */
export const MAX_HELD = 256;

const CR = 0x0d;
const LF = 0x0a;
const TILDE = 0x7e;
const BANNER = "[SOL Session operational.";

export class IpmitoolLineFilter implements OutputFilter {
  private held: number[] = [];
  /** True at a line start (the session starts at one). */
  private atLineStart = true;
  /** The held text matched a prefix: drop it through the line end. */
  private dropping = false;

  constructor(private readonly onBanner?: () => void) {}

  push(chunk: Buffer): Buffer {
    const out: number[] = [];
    for (const byte of chunk) this.take(byte, out);
    return Buffer.from(out);
  }

  private take(byte: number, out: number[]): void {
    if (this.dropping) {
      if (byte === LF) {
        this.dropping = false;
        this.held = [];
        this.atLineStart = true;
      } else if (this.held.length < MAX_HELD) {
        this.held.push(byte);
      } else {
        this.release(out, byte);
      }
      return;
    }
    if (!this.atLineStart && this.held.length === 0 && byte !== TILDE) {
      out.push(byte);
      if (byte === CR || byte === LF) this.atLineStart = true;
      return;
    }
    // At a line start: CR and LF keep us there (blank lines, CRLF pairs).
    if (this.held.length === 0 && (byte === CR || byte === LF)) {
      out.push(byte);
      return;
    }
    this.held.push(byte);
    const text = Buffer.from(this.held).toString("latin1");
    if (IPMITOOL_LINE_PREFIXES.some((prefix) => text.startsWith(prefix))) {
      this.dropping = true;
      if (text.startsWith(BANNER)) this.onBanner?.();
      return;
    }
    if (IPMITOOL_LINE_PREFIXES.some((prefix) => prefix.startsWith(text))) return;
    this.release(out);
  }

  /** The held bytes are the target's after all. */
  private release(out: number[], extra?: number): void {
    const bytes = extra === undefined ? this.held : [...this.held, extra];
    this.held = [];
    this.dropping = false;
    this.atLineStart = false;
    for (const b of bytes) {
      out.push(b);
      if (b === CR || b === LF) this.atLineStart = true;
    }
  }
}
