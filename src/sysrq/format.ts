/**
 * The line a SysRq key's verdict is printed as, by the CLI and by the SSH door's `sysrq` exec
 * request (one format, so a script reading either reads both).
 */
import type { KeyResult } from "./result.js";

/** " (3.2 ms)", or nothing without a value. */
export function ms(value: number | null | undefined): string {
  return value === null || value === undefined
    ? ""
    : ` (${value < 10 ? value.toFixed(1) : Math.round(value)} ms)`;
}

/** One line per key: `h  acknowledged  HELP (3.2 ms)`, with the reason when it is not acknowledged. */
export function formatKeyResult(result: KeyResult): string {
  // The action lines up under the longest verdict that has one ("acknowledged").
  const parts = [
    result.action === undefined
      ? `${result.key}  ${result.verdict}`
      : `${result.key}  ${result.verdict.padEnd(12)}  ${result.action}`,
  ];
  parts.push(ms(result.latencyMs));
  if (result.completion !== undefined) {
    parts.push(
      result.completion.line === null
        ? "; no completion line in time"
        : `; ${result.completion.line}${ms(result.completion.latencyMs)}`,
    );
  }
  if (result.after !== undefined && result.after.event !== "none") parts.push(`; then ${result.after.event}`);
  const why = result.hint ?? result.reason ?? result.note;
  if (result.verdict === "unsupported" && result.supported !== undefined) {
    parts.push(`; the kernel offers ${result.supported}`);
  } else if (result.verdict !== "acknowledged" && why !== undefined) {
    parts.push(`\n   ${why}`);
  }
  return parts.join("");
}
