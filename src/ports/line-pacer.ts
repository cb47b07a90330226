/**
 * Paces bytes to the target at its line rate. The daemon cannot recall bytes once they are in a
 * socket or tty buffer, and a stopped or slow target reads none of them: written at memory speed,
 * megabytes pile up and run minutes later (a SysRq key among them). So the link writes at most
 * LINE_BUDGET_MS of line time ahead of what the line could have carried, and keeps count of what
 * waits so a writer can be told at once that its bytes could not start in time.
 *
 * The line is modelled as draining at baudRate/10 bytes a second (8N1: ten bits a byte) from the
 * moment each chunk is written; nothing from the target confirms it.
 */
import type { Clock } from "../clock.js";

/** Line time a port may have written ahead of the line (bytes "in flight"). */
export const LINE_BUDGET_MS = 1000;
/** Bytes go out in pieces of this much line time, so the budget is never overshot by much. */
const CHUNK_MS = 100;

/** Bytes a writer has been promised a place for; ticked off as they go out. */
export interface Reservation {
  written(bytes: number): void;
  /** Drops what was not written (the write failed, or never started). */
  release(): void;
}

export class LinePacer {
  /** When the line will have carried everything written so far, if it drains at the line rate. */
  private busyUntil = Number.NEGATIVE_INFINITY;
  /** Bytes accepted for writing (queued or being paced out) but not yet written. */
  private backlogBytes = 0;

  constructor(
    private readonly clock: Clock,
    /** The line rate now, in bytes a second (a tty's baud rate can change while open). */
    private readonly bytesPerSecond: () => number,
  ) {}

  /** Line time written but not yet carried, in ms (at most about LINE_BUDGET_MS). */
  inFlightMs(): number {
    return Math.max(0, this.busyUntil - this.clock.now());
  }

  /** How long bytes accepted now would wait before their first byte could go out, in ms. */
  startDelayMs(): number {
    const backlogMs = (this.backlogBytes / this.bytesPerSecond()) * 1000;
    return Math.max(0, backlogMs + this.inFlightMs() - LINE_BUDGET_MS);
  }

  /** Counts `bytes` as waiting to go out, so later writers see them ahead; release() when done. */
  reserve(bytes: number): Reservation {
    this.backlogBytes += bytes;
    let left = bytes;
    return {
      written: (n) => {
        const done = Math.min(n, left);
        left -= done;
        this.backlogBytes -= done;
      },
      release: () => {
        this.backlogBytes -= left;
        left = 0;
      },
    };
  }

  /** Writes `bytes` through `write` at the line rate, ticking off `reservation` as it goes. */
  async send(
    bytes: Buffer,
    write: (chunk: Buffer) => Promise<void>,
    reservation?: Reservation,
  ): Promise<void> {
    const rate = this.bytesPerSecond();
    const chunkBytes = Math.max(1, Math.floor((rate * CHUNK_MS) / 1000));
    for (let at = 0; at < bytes.length; at += chunkBytes) {
      const chunk = bytes.subarray(at, at + chunkBytes);
      const chunkMs = (chunk.length / rate) * 1000;
      const wait = this.inFlightMs() + chunkMs - LINE_BUDGET_MS;
      if (wait > 0) await this.clock.sleep(wait);
      this.busyUntil = Math.max(this.busyUntil, this.clock.now()) + chunkMs;
      reservation?.written(chunk.length);
      await write(chunk);
    }
  }
}
