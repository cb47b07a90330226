/**
 * What the client commands print: short human lines on a terminal, JSON with --json. Pure
 * functions from API bodies to text; the commands decide where it goes.
 */
import type { KeyResult } from "../sysrq/result.js";
import type { CliError, LogLine, NmiResultBody, PortSummary } from "./api-client.js";

function ms(value: number | null | undefined): string {
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

export function formatNmi(result: NmiResultBody): string {
  const head = `NMI  ${result.verdict}${ms(result.latencyMs)}`;
  if (result.line !== null) return `${head}\n   ${result.line}`;
  return result.reason === undefined ? head : `${head}\n   ${result.reason}`;
}

export function formatBreak(sent: { port: string; breakMs?: number; method: string }): string {
  return `BREAK sent on ${sent.port}${sent.breakMs === undefined ? "" : `: ${sent.breakMs} ms`} via ${sent.method}`;
}

/** A fixed-width table of the ports. */
export function formatPorts(ports: readonly PortSummary[]): string {
  const rows = [
    ["PORT", "STATE", "KIND", "TARGET", "SYSRQ", "NMI", "LEASE", "VIEWERS"],
    ...ports.map((port) => [
      port.id,
      port.state,
      port.kind,
      port.target,
      port.capabilities.sysrq.available ? port.capabilities.sysrq.method : "-",
      port.capabilities.nmi.available ? (port.capabilities.nmi.method ?? "yes") : "-",
      port.lease === null ? "-" : `${port.lease.holder} (${port.lease.via})`,
      String(port.viewers),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

export function formatLogLine(line: LogLine, json: boolean): string {
  return json ? JSON.stringify(line) : line.text;
}

export function formatError(error: CliError, json: boolean): string {
  if (json) {
    return JSON.stringify({ error: { code: error.code, status: error.status, message: error.message } });
  }
  return `sysrq-bridge: ${error.code}: ${error.message}`;
}
