/**
 * `ssh vm0@bridge COMMAND`: one command on the user's port, its output on stdout, refusals on stderr,
 * and the CLI's exit codes (sysrq/exit-codes.ts) so a script branches the same way on either.
 *
 *   sysrq KEYS      one line per key (sysrq/format.ts), the worst verdict's code; roles as POST /sysrq
 *   log [-n N]      the last N console lines (default 50, at most 10000)
 *   break           a BREAK (operate): it arms SysRq as POST /break does
 *   nmi             an NMI (admin)
 *   anything else   usage on stderr, exit 64
 */
import type { ClientIdentity } from "../clients/console-client.js";
import { roleAtLeast, roleForKeys } from "../clients/roles.js";
import type { Role } from "../config/types.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import { ExitCode, exitForStatus, exitForVerdict, worst } from "../sysrq/exit-codes.js";
import { formatKeyResult, ms } from "../sysrq/format.js";
import { DEFAULT_SYSRQ_TIMEOUT_MS } from "../sysrq/run.js";

export const EXEC_USAGE =
  "usage: ssh PORT@BRIDGE [sysrq KEYS | log [-n LINES] | break | nmi]   (no command: the live console)";
const MAX_LOG_LINES = 10_000;
/** A command line longer than this is not a command of ours. */
const MAX_COMMAND_CHARS = 256;

export interface ExecIo {
  out(text: string): void;
  err(text: string): void;
}

export interface ExecOutcome {
  readonly code: ExitCode;
  /** What the audit records: the command's name and its arguments (SysRq keys, a line count). */
  readonly detail: Readonly<Record<string, unknown>>;
}

export async function runExec(
  command: string,
  port: Port,
  who: ClientIdentity,
  io: ExecIo,
): Promise<ExecOutcome> {
  const words = command.length > MAX_COMMAND_CHARS ? [] : command.trim().split(/\s+/);
  const [name, ...args] = words;
  try {
    switch (name) {
      case "sysrq":
        if (args.length === 1 && args[0] !== undefined && /^[0-9a-zA-Z]{1,32}$/.test(args[0]))
          return await sysrq(args[0], port, who, io);
        break;
      case "log": {
        const lines = logCount(args);
        if (lines === null) break;
        for (const line of port.capture.lines.tail(lines).lines) io.out(`${line.text}\n`);
        return { code: ExitCode.OK, detail: { command: "log", lines } };
      }
      case "break":
        if (args.length > 0) break;
        need(who, "operate", "a BREAK");
        io.out(`BREAK sent on ${port.id} via ${(await port.sendBreak(undefined)).method}\n`);
        return { code: ExitCode.OK, detail: { command: "break" } };
      case "nmi": {
        if (args.length > 0) break;
        need(who, "admin", "an NMI");
        const result = await port.nmi(3000);
        io.out(`NMI  ${result.verdict}${ms(result.latencyMs)}\n`);
        const why = result.line ?? result.reason;
        if (why !== undefined && why !== null) io.out(`   ${why}\n`);
        return { code: exitForVerdict(result.verdict), detail: { command: "nmi", verdict: result.verdict } };
      }
      case undefined:
      default:
        break;
    }
  } catch (err) {
    const known = err instanceof BridgeError;
    io.err(`sysrq-bridge: ${known ? `${err.code}: ${err.message}` : "internal error"}\n`);
    const code = known ? exitForStatus(err.statusCode) : ExitCode.TRANSPORT;
    return { code, detail: { command: name, code: known ? err.code : "INTERNAL" } };
  }
  io.err(`sysrq-bridge: unknown command\n${EXEC_USAGE}\n`);
  return { code: ExitCode.USAGE, detail: { command: "unknown" } };
}

async function sysrq(keys: string, port: Port, who: ClientIdentity, io: ExecIo): Promise<ExecOutcome> {
  need(who, roleForKeys(keys), `SysRq keys ${keys}`);
  const codes: ExitCode[] = [];
  const results = await port.sysrq({ keys, timeoutMs: DEFAULT_SYSRQ_TIMEOUT_MS, settleMs: 100 }, (result) => {
    codes.push(exitForVerdict(result.verdict));
    io.out(`${formatKeyResult(result)}\n`);
  });
  return {
    code: worst(codes),
    detail: { command: "sysrq", keys, verdicts: results.map((result) => result.verdict) },
  };
}

function logCount(args: readonly string[]): number | null {
  if (args.length === 0) return 50;
  if (args.length !== 2 || args[0] !== "-n" || !/^[0-9]{1,5}$/.test(args[1] ?? "")) return null;
  return Math.min(Number(args[1]), MAX_LOG_LINES);
}

function need(who: ClientIdentity, role: Role, what: string): void {
  if (!roleAtLeast(who.role, role))
    throw new BridgeError("FORBIDDEN", `${what} needs the ${role} role; ${who.name} has ${who.role}`);
}
