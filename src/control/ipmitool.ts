/**
 * Runs Debian's `ipmitool` against a BMC for one request (chassis power on|off|cycle|reset|diag):
 *
 *   ipmitool -I lanplus [-C N] -H host -p port -U user -E chassis power ACTION     env IPMI_PASSWORD
 *
 * No shell; the password only in the child's environment (`-E`), never in its argv where `ps` shows
 * it, nor in a message. A deadline kills the process group, so do an abort (the daemon stopping); only
 * the first IPMITOOL_OUTPUT_LIMIT bytes of each stream are kept. A completion code that says the BMC
 * does not do the request (0xC1, 0xCC, 0xD5, 0xD6) is an "unsupported" IpmiError naming the code.
 */
import { spawn } from "node:child_process";
import type { IpmiConfig } from "../config/types.js";
import { BoundedOutput, killGroup } from "../child-process.js";

export const IPMITOOL_OUTPUT_LIMIT = 8192;

/** ipmitool prints a completion code by its name (ipmi_strings.c); these say "not offered here". */
export const UNSUPPORTED_CODES: ReadonlyMap<number, string> = new Map([
  [0xc1, "Invalid command"],
  [0xcc, "Invalid data field in request"],
  [0xd5, "Command not supported in present state"],
  [0xd6, "Cannot execute command, command disabled"],
]);

export class IpmiError extends Error {
  constructor(
    message: string,
    /** "unsupported": the BMC answered one of UNSUPPORTED_CODES; "failed": anything else. */
    readonly kind: "unsupported" | "failed",
    readonly output: { readonly exitCode?: number; readonly stdout: string; readonly stderr: string },
  ) {
    super(message);
    this.name = "IpmiError";
  }
}

export interface IpmitoolRun {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The argv after `ipmitool` that reaches the BMC (no secret in it). */
export function connectionArgs(
  config: Pick<IpmiConfig, "interface" | "cipherSuite" | "host" | "port" | "username">,
): string[] {
  return [
    ...["-I", config.interface],
    ...(config.cipherSuite === undefined ? [] : ["-C", String(config.cipherSuite)]),
    ...["-H", config.host, "-p", String(config.port), "-U", config.username, "-E"],
  ];
}

export function describeBmc(config: Pick<IpmiConfig, "username" | "host" | "port">): string {
  return `${config.username}@${config.host}:${config.port}`;
}

/** The completion code ipmitool's stderr names, if it is one that means "not offered". */
export function unsupportedCode(stderr: string): number | null {
  const raw = /rsp=0x([0-9a-f]{2})/i.exec(stderr);
  if (raw?.[1] !== undefined) {
    const code = Number.parseInt(raw[1], 16);
    return UNSUPPORTED_CODES.has(code) ? code : null;
  }
  for (const [code, name] of UNSUPPORTED_CODES) if (stderr.includes(name)) return code;
  return null;
}

export function hex(code: number): string {
  return `0x${code.toString(16).toUpperCase().padStart(2, "0")}`;
}

/** Runs `ipmitool <connection> ...args`; resolves on exit 0, rejects with IpmiError otherwise. */
export function runIpmitool(
  config: IpmiConfig,
  args: readonly string[],
  signal?: AbortSignal,
): Promise<IpmitoolRun> {
  const what = `ipmitool ${args.join(" ")} at ${describeBmc(config)}`;
  if (signal?.aborted) {
    return Promise.reject(new IpmiError(`${what}: not run: the daemon is stopping`, "failed", empty));
  }
  return new Promise((resolve, reject) => {
    const out = new BoundedOutput(IPMITOOL_OUTPUT_LIMIT);
    const err = new BoundedOutput(IPMITOOL_OUTPUT_LIMIT);
    // detached: a deadline or an abort kills the whole process group.
    const child = spawn(config.ipmitool, [...connectionArgs(config), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: { ...process.env, IPMI_PASSWORD: config.password },
    });
    child.stdout.on("data", (chunk: Buffer) => out.add(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.add(chunk));
    let ended: string | null = null;
    const stop = (why: string): void => {
      ended ??= why;
      killGroup(child.pid);
    };
    const timer = setTimeout(() => stop(`no answer within ${config.timeoutMs} ms; killed`), config.timeoutMs);
    const onAbort = (): void => stop("killed: the daemon is stopping");
    signal?.addEventListener("abort", onAbort, { once: true });
    const output = (exitCode?: number) => ({
      ...(exitCode === undefined ? {} : { exitCode }),
      stdout: scrub(out.text(), config.password),
      stderr: scrub(err.text(), config.password),
    });
    const settle = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    child.once("error", (e) => {
      settle();
      reject(new IpmiError(`cannot run ${config.ipmitool}: ${e.message}`, "failed", output()));
    });
    child.once("close", (code) => {
      settle();
      const got = output(code ?? undefined);
      if (ended !== null) {
        reject(new IpmiError(`${what}: ${ended}`, "failed", got));
      } else if (code === 0) {
        resolve({ exitCode: 0, stdout: got.stdout, stderr: got.stderr });
      } else {
        const cc = unsupportedCode(got.stderr);
        const said = lastLine(got.stderr);
        reject(
          cc === null
            ? new IpmiError(`${what} failed (exit ${String(code)})${said ? `: ${said}` : ""}`, "failed", got)
            : new IpmiError(
                `the BMC answered completion code ${hex(cc)} (${UNSUPPORTED_CODES.get(cc) ?? ""}) to ${what}`,
                "unsupported",
                got,
              ),
        );
      }
    });
  });
}

const empty = { stdout: "", stderr: "" };

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim());
  return lines.filter((l) => l !== "").pop() ?? "";
}

/** ipmitool never prints the password; this keeps a BMC that echoes it from leaking it. */
function scrub(text: string, secret: string): string {
  return secret === "" ? text : text.replaceAll(secret, "[password]");
}
