/**
 * Reads the kernel's answer out of console lines. Pure functions over text.
 *
 * The marker may sit anywhere in a line (a kernel line can arrive glued to a shell prompt:
 * "/ # \x1b[6n[    3.02] sysrq: HELP ..."); current kernels print "sysrq: ", older ones "SysRq : ".
 * Only headers count, never the dump body: with a low console loglevel only the header prints.
 */
import { KNOWN_ACTIONS, disabledHint, keyInfo } from "./keys.js";

const MARKER = /(?:sysrq|SysRq) ?: (.*)$/;
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

/** The sysrq part of a line ("sysrq: Show Memory"), without timestamp, prompt or line end. */
function sysrqText(line: string): { text: string; body: string } | null {
  const match = MARKER.exec(line.replace(/[\r\n]+$/, ""));
  if (!match) return null;
  const body = (match[1] ?? "").trimEnd();
  return { text: match[0].replace(/[\r\n]+$/, ""), body };
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
 * Decides what a console line says about `key`, or null when the line is not its answer (ordinary
 * output, a follow-up, or a late header that belongs to a different key).
 */
export function judgeLine(key: string, line: string): Judgement | null {
  const parsed = classifyLine(line);
  const info = keyInfo(key);
  switch (parsed.kind) {
    case "other":
    case "follow-up":
      return null;
    case "disabled":
      return {
        verdict: "disabled",
        action: info.action,
        line: parsed.text,
        needsBit: info.bit,
        hint:
          info.bit === null
            ? "kernel.sysrq is 0: SysRq is off; sysctl kernel.sysrq=1 enables all"
            : disabledHint(info.bit),
      };
    case "help":
      return key === "h"
        ? { verdict: "acknowledged", action: "HELP", line: parsed.text }
        : { verdict: "unsupported", line: parsed.text, supported: keysFromHelp(parsed.body) };
    case "header":
      if (parsed.action === info.action)
        return { verdict: "acknowledged", action: parsed.action, line: parsed.text };
      // A header the table knows for another key is a late line of an earlier request, not ours.
      if (KNOWN_ACTIONS.has(parsed.action)) return null;
      // A header this table does not know (a newer kernel's wording): the kernel ran something.
      return { verdict: "acknowledged", action: parsed.action, line: parsed.text };
  }
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
