/** Figures and the printed table: median, p90, max, and the ratio against a same-run baseline. */
import os from "node:os";

export interface Figures {
  readonly median: number;
  readonly p90: number;
  readonly max: number;
  readonly n: number;
}

export function figures(samples: readonly number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { median: at(0.5), p90: at(0.9), max: sorted.at(-1) ?? NaN, n: sorted.length };
}

export function percentile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** What limits a figure, so it is never misread as the daemon's own cost. */
export type Bottleneck = "daemon" | "guest" | "kernel" | "disk" | "module loading";

/** One printed row: a measurement and, when there is one, its baseline from the same run. */
export interface Row {
  readonly case: string;
  readonly name: string;
  readonly unit: string;
  readonly bottleneck: Bottleneck;
  readonly figures: Figures;
  readonly baseline?: { readonly name: string; readonly figures: Figures };
  /** Anything else worth keeping (breakdowns, byte counts, goals). */
  readonly extra?: Record<string, unknown>;
}

/** The 1-minute load average: other agents share this machine, so every figure carries it. */
export function load(): number {
  return Number((os.loadavg()[0] ?? 0).toFixed(2));
}

const num = (n: number): string => (Number.isFinite(n) ? n.toFixed(n >= 100 ? 0 : 2) : "-").padStart(9);

export function printRow(row: Row): void {
  const f = row.figures;
  const b = row.baseline?.figures;
  const ratio = b ? (f.median / b.median).toFixed(2) + "x" : "";
  console.log(
    `${row.case.padEnd(3)} ${row.name.padEnd(40)} ${num(f.median)} ${num(f.p90)} ${num(f.max)} ${row.unit.padEnd(5)} ${ratio.padStart(7)}  [${row.bottleneck}]`,
  );
  if (row.baseline && b)
    console.log(
      `    ${`baseline: ${row.baseline.name}`.padEnd(40)} ${num(b.median)} ${num(b.p90)} ${num(b.max)}`,
    );
}

export function printHeader(): void {
  console.log(
    `${"#".padEnd(3)} ${"case".padEnd(40)} ${"median".padStart(9)} ${"p90".padStart(9)} ${"max".padStart(9)} unit  ${"ratio".padStart(7)}  [bottleneck]`,
  );
}

/** What every case gets: sizes, and where its rows go. */
export interface BenchContext {
  readonly runs: number;
  /** --runs was given: cases with a larger default of their own use `runs` instead. */
  readonly runsGiven?: boolean;
  /** Case 1's warm-up requests (--warm-up), instead of its default. */
  readonly warmUp?: number;
  /**
   * Case 1's guests send without Nagle (QEMU's chardev nodelay=on, as docs/targets.md recommends): the
   * default; false with --guest-nagle (QEMU's own default).
   */
  readonly guestNodelay?: boolean;
  readonly smoke: boolean;
  readonly rows: Row[];
}

export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
