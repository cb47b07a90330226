/**
 * Report lines kept as the bytes the console sent, decoded only when the report is read: under a
 * flood the lines of a report being collected arrive far faster than anyone reads the report, and
 * decoding each one as it came cost 50 times the capture's own work (docs/performance.md, case 3c).
 * Copied, not referenced: a line's source is a whole read of the capture (up to 64 KiB).
 */
import { lineText } from "../../capture/line-splitter.js";
import { reportText } from "./kernel-line.js";

export class RawLines {
  private bytes = Buffer.alloc(0);
  private used = 0;
  /** Where each line ends in `bytes`. */
  private readonly ends: number[] = [];

  /** Bytes held: never fewer than the characters their lines decode to. */
  get length(): number {
    return this.used;
  }

  push(source: Buffer, start: number, end: number): void {
    const length = end - start;
    if (this.used + length > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(4096, 2 * this.bytes.length, this.used + length));
      this.bytes.copy(grown, 0, 0, this.used);
      this.bytes = grown;
    }
    source.copy(this.bytes, this.used, start, end);
    this.used += length;
    this.ends.push(this.used);
  }

  /** Hands each line's report text to `take`, oldest first, and forgets them. */
  drain(take: (text: string) => void): void {
    let from = 0;
    for (const end of this.ends) {
      take(reportText(lineText(this.bytes.subarray(from, end))));
      from = end;
    }
    this.ends.length = 0;
    this.used = 0;
  }

  /** Lets the buffer go (the report it served is closed). */
  release(): void {
    this.ends.length = 0;
    this.used = 0;
    this.bytes = Buffer.alloc(0);
  }
}
