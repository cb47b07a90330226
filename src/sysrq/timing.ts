/**
 * Where one SysRq request's time went, by the daemon's own clock, so a slow answer can be blamed on
 * the right layer. Each layer adds the phase it owns; the API reports the sum as a Server-Timing
 * header. Requests nobody times pass no PhaseTimes and take no marks.
 *
 *   received ─http─> handler ─queue─> dequeued ─wire─> key written ─kernel─> verdict line
 *            ─settle─> sequence done ─respond─> response handed to the socket (audit included)
 *
 * wire covers the quiet wait before a BREAK, the BREAK (and its hold) and the key write; kernel runs
 * from the key write to the receipt of the chunk that completed the verdict line.
 */
export type Phase = "http" | "queue" | "wire" | "kernel" | "settle" | "respond";

export class PhaseTimes {
  private readonly totals = new Map<Phase, number>();

  /** Adds `ms` to `phase` (a sequence of several keys adds wire, kernel and settle once per key). */
  add(phase: Phase, ms: number): void {
    this.totals.set(phase, (this.totals.get(phase) ?? 0) + Math.max(0, ms));
  }

  /** The phases that took any time so far, in the order they happen. */
  entries(): [Phase, number][] {
    return PHASE_ORDER.flatMap((phase) => {
      const ms = this.totals.get(phase);
      return ms === undefined ? [] : [[phase, ms] as [Phase, number]];
    });
  }
}

const PHASE_ORDER: readonly Phase[] = ["http", "queue", "wire", "kernel", "settle", "respond"];
