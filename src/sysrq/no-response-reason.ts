/**
 * Why a SysRq key got no answer, from what the console printed after it. When the output shows the
 * key echoed by a shell, the BREAK did not arm SysRq and the key went in as typed input: the evidence
 * points at kernel.sysrq=0 (or a wire that drops BREAKs), and the key now sits in the input line.
 */
import { NO_RESPONSE_REASON } from "./result.js";

// CSI and other two-byte escapes: busybox's prompt ends in ESC [6n before the echoed key.
// eslint-disable-next-line no-control-regex -- terminal escapes are what this strips
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|\r/g;

/** The output line that shows `key` typed at a prompt (the key alone, or after # $ > % or ": "). */
export function echoedKeyLine(key: string, output: readonly string[]): string | null {
  for (const line of output) {
    const text = line.replace(ESCAPES, "").trimEnd();
    if (text === key) return line;
    if (text.endsWith(key) && /(?:[#$>%]\s?|:\s)$/.test(text.slice(0, -key.length))) return line;
  }
  return null;
}

/** The no-response reason for `key`, given the console lines that followed it (none was a sysrq line). */
export function noResponseReason(key: string, output: readonly string[]): string {
  const echoed = echoedKeyLine(key, output);
  if (echoed === null) return NO_RESPONSE_REASON;
  return (
    `no sysrq line within timeoutMs, and the console echoed the key as typed input (${JSON.stringify(echoed)}): ` +
    "the kernel is running and this port is its console, but the BREAK did not arm SysRq. Most likely " +
    "SysRq is fully off (kernel.sysrq=0; see /proc/sys/kernel/sysrq), unless the wire drops BREAKs. " +
    `The key ${JSON.stringify(key)} now sits in the console's input line: erase it (Ctrl-U) before typing a command`
  );
}
