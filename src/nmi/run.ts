/**
 * Delivers one NMI and reads the verdict from the console. "Uhhuh. NMI received..." prints before a
 * panic line, so it does not decide alone: the runner waits for the line that settles it.
 */
import type { Clock } from "../clock.js";
import { ConsoleInbox } from "../sysrq/console-inbox.js";
import type { ConsoleFeed } from "../sysrq/port-contract.js";
import { NMI_NO_RESPONSE_REASON, classifyNmiLine } from "./verdict.js";

export interface NmiResult {
  readonly verdict: "acknowledged" | "panic" | "no-response";
  /** The line that settled the verdict (or the report, if nothing settled it in time). */
  readonly line: string | null;
  readonly latencyMs: number | null;
  readonly output: string[];
  readonly reason?: string;
}

export async function runNmi(
  inject: () => Promise<void>,
  timeoutMs: number,
  deps: { feed: ConsoleFeed; clock: Clock },
): Promise<NmiResult> {
  const inbox = new ConsoleInbox(deps.feed, deps.clock);
  const output: string[] = [];
  try {
    const start = deps.clock.now();
    await inject();
    const deadline = start + timeoutMs;
    let reported: { line: string; at: number } | null = null;
    for (;;) {
      const event = await inbox.next(deadline);
      if (event === null || event.type === "disconnected") break;
      output.push(event.text);
      const kind = classifyNmiLine(event.text);
      const latencyMs = Math.round(((reported?.at ?? event.at) - start) * 100) / 100;
      if (kind === "panic") return { verdict: "panic", line: event.text.trim(), latencyMs, output };
      if (kind === "continuing")
        return { verdict: "acknowledged", line: event.text.trim(), latencyMs, output };
      if (kind === "reported" && !reported) reported = { line: event.text.trim(), at: event.at };
    }
    if (reported) {
      return {
        verdict: "acknowledged",
        line: reported.line,
        latencyMs: Math.round((reported.at - start) * 100) / 100,
        output,
        reason:
          "the kernel reported the NMI but printed neither a panic nor 'trying to continue' within timeoutMs",
      };
    }
    return { verdict: "no-response", line: null, latencyMs: null, output, reason: NMI_NO_RESPONSE_REASON };
  } finally {
    inbox.close();
  }
}
