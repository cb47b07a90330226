/**
 * Reads one console line the way the SysRq verdict parser does (sysrq/verdict.ts): CR and ANSI
 * escapes stripped, the kernel's message found after the LAST printk timestamp on the line (a kernel
 * line can arrive glued to a shell prompt: "/ # \x1b[6n[    3.02] Kernel panic ..."), or at the start
 * of a line that has none (printk.time=0). A marker anywhere else is userspace text ("app: BUG: x")
 * and never a header.
 */

// eslint-disable-next-line no-control-regex -- terminal escapes are what this strips
const ESCAPES = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]|[\r\n]/g;
/** "[   12.345678]", optionally with the caller id "[  T123]" / "[ C1]" and a syslog "<4>" before. */
const TIMESTAMP = /(?:<\d>)?\[\s*\d+\.\d+\](?:\[\s*[TC]\d+\])? ?/g;

export interface KernelLine {
  /** The line without escapes, CR or LF: what a report keeps. */
  readonly text: string;
  /** The kernel's message: after the last timestamp, or the whole line; "" when there is none. */
  readonly message: string;
  /** True when a printk timestamp preceded the message. */
  readonly timestamped: boolean;
}

/** The line as a report keeps it: escapes, CR and LF stripped. */
export function reportText(raw: string): string {
  return raw.includes("\x1b") || raw.includes("\r") || raw.includes("\n") ? raw.replace(ESCAPES, "") : raw;
}

export function readKernelLine(raw: string): KernelLine {
  const text = reportText(raw);
  // The last timestamp near the start (a glued prompt before it is short): not a scan of a long line.
  const head = text.length > 300 ? text.slice(0, 300) : text;
  let end = -1;
  if (head.includes("]")) {
    TIMESTAMP.lastIndex = 0;
    for (let m = TIMESTAMP.exec(head); m !== null; m = TIMESTAMP.exec(head)) end = m.index + m[0].length;
  }
  if (end >= 0) return { text, message: text.slice(end), timestamped: true };
  return { text, message: text.replace(/^<\d>/, ""), timestamped: false };
}
