/**
 * Reads the kernel's answer out of console lines. Pure functions over text.
 *
 * The marker may sit anywhere in a line (a kernel line can arrive glued to a shell prompt:
 * "/ # \x1b[6n[    3.02] sysrq: HELP ..."); current kernels print "sysrq: ", older ones "SysRq : ".
 * Only headers count, never the dump body: with a low console loglevel only the header prints.
 *
 * Userspace can print anything on the console, so text alone must not decide more than it has to: on a
 * glued line the last marker counts (the kernel's printk ends the line; the text before it is whatever
 * lacked a newline), only the key's own header acknowledges it, and a `disabled` or HELP line is
 * tentative (the runner holds it settleMs for the key's own header, which wins).
 */
import { disabledHint, keyInfo } from "./keys.js";

const MARKER = /(?:sysrq|SysRq) ?: /g;
const DISABLED = "This sysrq operation is disabled.";
/** sysrq-prefixed lines that follow a header and are never an answer of their own. */
const FOLLOW_UPS = [/^Loglevel set to \d+/, /^CPU\d+:/];

export type ConsoleLine =
  | { readonly kind: "header"; readonly action: string; readonly text: string }
  | { readonly kind: "disabled"; readonly text: string }
  /** body: what follows "HELP"; keysFromHelp reads the offered keys out of it when they are needed. */
  | { readonly kind: "help"; readonly body: string; readonly text: string }
  | { readonly kind: "follow-up" }
  | { readonly kind: "other" };

/**
 * The sysrq part of a line ("sysrq: Show Memory"), without timestamp, prompt or line end: from the
 * last marker on the line, and how many markers it held (more than one: lines glued together).
 */
function sysrqText(line: string): { text: string; body: string; markers: number } | null {
  const bare = line.replace(/[\r\n]+$/, "");
  let last = -1;
  let markers = 0;
  for (const match of bare.matchAll(MARKER)) {
    last = match.index;
    markers += 1;
  }
  if (last < 0) return null;
  const text = bare.slice(last);
  const body = text.slice(text.indexOf(": ") + 2).trimEnd();
  return { text, body, markers };
}

/** How many sysrq markers a line holds (more than one: lines from several writers glued together). */
export function markerCount(line: string): number {
  return sysrqText(line)?.markers ?? 0;
}

/** Keys offered by a HELP line, in a stable order: digits, lower case, upper case; h included. */
export function keysFromHelp(body: string): string {
  const keys = new Set<string>(["h"]);
  if (/\(0-9\)/.test(body)) for (const digit of "0123456789") keys.add(digit);
  for (const match of body.matchAll(/\(([0-9A-Za-z])\)/g)) keys.add(match[1] as string);
  const rank = (k: string): number => (/[0-9]/.test(k) ? 0 : /[a-z]/.test(k) ? 1 : 2);
  return [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)).join("");
}

export function classifyLine(line: string): ConsoleLine {
  const found = sysrqText(line);
  if (!found) return { kind: "other" };
  const { text, body } = found;
  if (body.startsWith(DISABLED)) return { kind: "disabled", text };
  if (/^HELP ?:/.test(body)) return { kind: "help", body, text };
  if (FOLLOW_UPS.some((re) => re.test(body))) return { kind: "follow-up" };
  return { kind: "header", action: body, text };
}

export type Judgement =
  | { readonly verdict: "acknowledged"; readonly action: string; readonly line: string }
  | {
      readonly verdict: "disabled";
      readonly action: string;
      readonly line: string;
      readonly needsBit: number | null;
      readonly hint: string;
    }
  | { readonly verdict: "unsupported"; readonly line: string; readonly supported: string };

/**
 * What a console line says about `key`:
 *   final      the key's own header (for h: HELP): the kernel ran it
 *   tentative  a `disabled` line, or HELP for another key: userspace could have printed it, so it
 *              decides only if the key's own header does not follow within settleMs
 *   foreign    a header that is not this key's action (a late line of an earlier key, another
 *              kernel's wording, or userspace): never an acknowledgement, noted
 *   none       ordinary output or a follow-up
 */
export type Reading =
  | { readonly kind: "final"; readonly judgement: Judgement }
  | { readonly kind: "tentative"; readonly judgement: Judgement }
  | { readonly kind: "foreign"; readonly action: string }
  | { readonly kind: "none" };

export function readLine(key: string, line: string): Reading {
  const parsed = classifyLine(line);
  const info = keyInfo(key);
  switch (parsed.kind) {
    case "other":
    case "follow-up":
      return { kind: "none" };
    case "disabled":
      return {
        kind: "tentative",
        judgement: {
          verdict: "disabled",
          action: info.action,
          line: parsed.text,
          needsBit: info.bit,
          hint:
            info.bit === null
              ? "kernel.sysrq is 0: SysRq is off; sysctl kernel.sysrq=1 enables all"
              : disabledHint(info.bit),
        },
      };
    case "help":
      return key === "h"
        ? { kind: "final", judgement: { verdict: "acknowledged", action: "HELP", line: parsed.text } }
        : {
            kind: "tentative",
            judgement: { verdict: "unsupported", line: parsed.text, supported: keysFromHelp(parsed.body) },
          };
    case "header":
      if (parsed.action === info.action)
        return {
          kind: "final",
          judgement: { verdict: "acknowledged", action: parsed.action, line: parsed.text },
        };
      return { kind: "foreign", action: parsed.action };
  }
}

/**
 * The judgement a line would give `key` (final or tentative), or null when the line is not its
 * answer (ordinary output, a follow-up, another key's or an unknown header).
 */
export function judgeLine(key: string, line: string): Judgement | null {
  const reading = readLine(key, line);
  return reading.kind === "final" || reading.kind === "tentative" ? reading.judgement : null;
}

/** True when the line says the key's deferred work is done ("Emergency Sync complete"). */
export function isCompletionLine(key: string, line: string): boolean {
  const completion = keyInfo(key).completion;
  return completion !== undefined && line.includes(completion);
}

export type AfterEvent = "panic" | "power-down" | "restart" | "disconnected";

/** What a line printed after a life-ending key (b, o, c) says happened to the target. */
export function afterEventOf(line: string): AfterEvent | null {
  if (line.includes("Kernel panic - not syncing")) return "panic";
  if (line.includes("reboot: Power down")) return "power-down";
  if (line.includes("reboot: Restarting system")) return "restart";
  return null;
}

/** The first line of a new boot: the kernel's banner, or the firmware's (SeaBIOS, U-Boot and its SPL). */
export function isBootBanner(line: string): boolean {
  return /Linux version |SeaBIOS|U-Boot (SPL )?\d/.test(line);
}
