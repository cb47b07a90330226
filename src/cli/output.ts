/**
 * What the client commands print: short human lines on a terminal, JSON with --json. Pure
 * functions from API bodies to text; the commands decide where it goes.
 */
import { ms } from "../sysrq/format.js";
import type {
  AuditEntry,
  CliError,
  LeaseView,
  LogLine,
  NmiResultBody,
  PortSummary,
  SysrqKeyInfo,
  TakenLease,
} from "./api-client.js";

export { formatKeyResult } from "../sysrq/format.js";

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
    ["PORT", "STATE", "HEALTH", "KIND", "TARGET", "SYSRQ", "NMI", "POWER", "LEASE", "VIEWERS"],
    ...ports.map((port) => [
      port.id,
      port.state,
      port.health ?? "-",
      port.kind,
      port.target,
      port.capabilities.sysrq.available ? port.capabilities.sysrq.method : "-",
      port.capabilities.nmi.available ? (port.capabilities.nmi.method ?? "yes") : "-",
      port.capabilities.power?.available === true ? (port.capabilities.power.method ?? "yes") : "-",
      port.lease === null ? "-" : `${port.lease.holder} (${port.lease.via})`,
      String(port.viewers),
    ]),
  ];
  return table(rows);
}

/**
 * A target's line made safe for a terminal: its control characters (ESC of a cursor query, BEL,
 * backspaces) shown in caret notation, ESC as ^[, DEL as ^?, C1 as M-^[ and so on; TAB stays. The
 * CR of a CRLF line end goes, so `ESC[6n` reads as ^[[6n instead of making the terminal answer.
 */
export function visible(text: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return text.replace(/\r$/, "").replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => {
    const code = c.charCodeAt(0);
    if (code === 0x7f) return "^?";
    if (code > 0x7f) return `M-^${String.fromCharCode(code - 0x80 + 0x40)}`;
    return `^${String.fromCharCode(code + 0x40)}`;
  });
}

/** `raw`: the text as the target printed it; else with its control characters visible. */
export function formatLogLine(line: LogLine, json: boolean, raw = true): string {
  if (json) return JSON.stringify(line);
  return raw ? line.text : visible(line.text);
}

export function formatLease(port: string, lease: LeaseView | null): string {
  if (lease === null) return `${port}: writer lease free`;
  const until = lease.expiresAt === null ? "" : ` until ${lease.expiresAt}`;
  return `${port}: writer lease held by ${lease.holder} (${lease.via})${until}`;
}

export function formatTakenLease(port: string, lease: TakenLease): string {
  const until = lease.expiresAt === null ? "" : ` until ${lease.expiresAt}`;
  return `${lease.leaseId}\n${port}: writer lease taken by ${lease.holder}${until}; release with: sysrq-bridge lease release ${port} ${lease.leaseId}`;
}

/** A table of the keys; OFFERED says whether the port's kernel listed the key in its last HELP line. */
export function formatKeys(keys: readonly SysrqKeyInfo[], offered: string | null): string {
  const rows = [
    ["KEY", "ACTION", "GROUP", "ROLE", "BIT", "OFFERED"],
    ...keys.map((k) => [
      k.key,
      k.action,
      k.group,
      k.role,
      k.bit === null ? "-" : String(k.bit),
      offered === null ? "?" : offered.includes(k.key) ? "yes" : "no",
    ]),
  ];
  const note =
    offered === null
      ? "OFFERED: no HELP line from this kernel in the log yet; send h to learn which keys it offers"
      : `OFFERED: from the kernel's last HELP line (${offered})`;
  return `${table(rows)}\n${note}`;
}

export function formatAudit(entries: readonly AuditEntry[]): string {
  return entries
    .map((e) =>
      [String(e.seq), e.ts, e.token, e.client, e.action, e.port ?? "-", String(e.status), e.code ?? ""]
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Columns padded to their widest cell. */
function table(rows: readonly (readonly string[])[]): string {
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

export function formatError(error: CliError, json: boolean): string {
  if (json) {
    return JSON.stringify({ error: { code: error.code, status: error.status, message: error.message } });
  }
  return `sysrq-bridge: ${error.code}: ${error.message}`;
}
