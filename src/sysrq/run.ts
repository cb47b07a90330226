/**
 * Runs a SysRq key sequence over a port: for each key, plan the wire steps, send them, read the
 * kernel's verdict from the console, await deferred completions, let the output settle. A sequence
 * stops at the first no-response: the remaining keys could land as typed input in a root shell.
 *
 *   key ─> planKey ─> BREAK / pause / key on the wire ─> lines ─> judgeLine ─> completion ─> settle
 */
import { ConsoleInbox, type Clock, type ConsoleFeed, type SysrqWire } from "./console.js";
import { keyInfo } from "./keys.js";
import { planKey } from "./plan.js";
import { noResponseReason } from "./no-response-reason.js";
import { type AfterReport, type CompletionReport, type KeyResult } from "./result.js";
import type { PhaseTimes } from "./timing.js";
import { afterEventOf, isCompletionLine, judgeLine, type Judgement } from "./verdict.js";

/** How long HTTP SysRq waits for the kernel by default; a console door's BREAK + key waits as long. */
export const DEFAULT_SYSRQ_TIMEOUT_MS = 3000;

export interface SequenceOptions {
  readonly timeoutMs: number;
  readonly settleMs: number;
  readonly breakMs: number;
}

export interface SequenceDeps {
  readonly wire: SysrqWire;
  readonly feed: ConsoleFeed;
  readonly clock: Clock;
  /** Where each key's time goes (wire, kernel, settle), when the caller wants to know. */
  readonly times?: PhaseTimes;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

export async function runSequence(
  keys: string,
  options: SequenceOptions,
  deps: SequenceDeps,
  onResult?: (result: KeyResult) => void,
): Promise<KeyResult[]> {
  const results: KeyResult[] = [];
  let stopReason: string | null = null;
  for (const key of keys) {
    const result: KeyResult = stopReason
      ? { key, verdict: "skipped", reason: stopReason }
      : await runKey(key, options, deps);
    results.push(result);
    onResult?.(result);
    if (stopReason) continue;
    if (result.verdict === "no-response") stopReason = `an earlier key (${key}) got no response`;
    else if (result.after?.disconnected) stopReason = `the port disconnected after key ${key}`;
  }
  return results;
}

async function runKey(key: string, options: SequenceOptions, deps: SequenceDeps): Promise<KeyResult> {
  const { wire, clock, times } = deps;
  const inbox = new ConsoleInbox(deps.feed, clock);
  try {
    const plan = planKey(wire.armState(), clock.now(), wire.delivery);
    const note = plan.note ? { note: plan.note } : {};
    const start = clock.now();
    const [first, second] = plan.steps;
    const plain = plan.steps.length === 2 && first?.type === "break" && second?.type === "key";
    if (plain && wire.sendBreakAndKey) await wire.sendBreakAndKey(options.breakMs, key);
    else
      for (const step of plan.steps) {
        switch (step.type) {
          case "break":
            await wire.sendBreak(options.breakMs);
            break;
          case "pause":
            await clock.sleep(step.ms);
            break;
          case "key":
            await wire.sendKey(key);
            break;
        }
      }
    const keyWrittenAt = clock.now();
    times?.add("wire", keyWrittenAt - start);
    return await readVerdict(
      key,
      inbox,
      { start, keyWrittenAt, ...options, note },
      {
        feed: deps.feed,
        clock,
        ...(times ? { times } : {}),
        // The kernel answered the key, so the target has read every byte sent so far.
        ...(wire.keyAnswered ? { answered: () => wire.keyAnswered?.() } : {}),
      },
    );
  } finally {
    inbox.close();
  }
}

/** When a key went out, and how long its verdict may take; `note` goes into the result as is. */
export interface VerdictWait {
  /** When the key's wire steps began (latencies count from here). */
  readonly start: number;
  readonly keyWrittenAt: number;
  readonly timeoutMs: number;
  readonly settleMs: number;
  readonly note: { readonly note?: string };
}

export interface VerdictDeps {
  readonly feed: ConsoleFeed;
  readonly clock: Clock;
  readonly times?: PhaseTimes;
  /** Called once the kernel has answered the key. */
  readonly answered?: () => void;
}

/**
 * Reads the kernel's verdict on `key` (already on the wire) from `inbox`, which was subscribed before
 * the key went out: the answer line, a deferred completion, and what followed a life-ending key.
 * HTTP SysRq and the console doors' BREAK + key both come here, so they judge alike.
 */
export async function readVerdict(
  key: string,
  inbox: ConsoleInbox,
  wait: VerdictWait,
  deps: VerdictDeps,
): Promise<KeyResult> {
  const { clock, times } = deps;
  const { start, keyWrittenAt, note } = wait;
  const output: string[] = [];
  const deadline = keyWrittenAt + wait.timeoutMs;
  let judgement: Judgement | null = null;
  let latencyMs = 0;
  let verdictAt = 0;
  while (!judgement) {
    const event = await inbox.next(deadline);
    if (event === null || event.type === "disconnected") {
      times?.add("kernel", clock.now() - keyWrittenAt);
      const reason = event
        ? "the port disconnected before the kernel answered"
        : noResponseReason(key, output);
      return { key, verdict: "no-response", line: null, latencyMs: null, reason, output, ...note };
    }
    judgement = judgeLine(key, event.text);
    if (judgement) {
      latencyMs = round(event.at - start);
      times?.add("kernel", event.at - keyWrittenAt);
      verdictAt = event.at;
    } else output.push(event.text);
  }
  deps.answered?.();

  const completion = await awaitCompletion(key, judgement, inbox, deadline, start, output);
  const after = await settle(key, judgement, inbox, deps, wait, deadline, output);
  times?.add("settle", clock.now() - verdictAt);
  return {
    key,
    ...judgement,
    latencyMs,
    output,
    ...(completion ? { completion } : {}),
    ...(after ? { after } : {}),
    ...note,
  };
}

/** s and u print a completion line later; the next key waits for it (bounded by the deadline). */
async function awaitCompletion(
  key: string,
  judgement: Judgement,
  inbox: ConsoleInbox,
  deadline: number,
  start: number,
  output: string[],
): Promise<CompletionReport | undefined> {
  if (judgement.verdict !== "acknowledged" || keyInfo(key).completion === undefined) return undefined;
  for (;;) {
    const event = await inbox.next(deadline);
    if (event === null || event.type === "disconnected") return { line: null, latencyMs: null };
    output.push(event.text);
    if (isCompletionLine(key, event.text))
      return { line: event.text.trim(), latencyMs: round(event.at - start) };
  }
}

/**
 * Collects output until the console has been idle settleMs (0: answer at once), capped by the deadline.
 * After a life-ending key it watches for what followed: a disconnect ends the wait, as does an
 * explaining line (panic, power down) followed by settleMs of quiet.
 */
async function settle(
  key: string,
  judgement: Judgement,
  inbox: ConsoleInbox,
  deps: VerdictDeps,
  options: { readonly settleMs: number },
  deadline: number,
  output: string[],
): Promise<AfterReport | undefined> {
  const ends = keyInfo(key).ends === true && judgement.verdict === "acknowledged";
  if (!ends && options.settleMs === 0) return undefined;
  let after: { event: AfterReport["event"]; line: string | null } = { event: "none", line: null };
  for (;;) {
    const now = deps.clock.now();
    const idleUntil = deps.feed.lastActivityAt() + options.settleMs;
    // A life-ending key waits for what follows unless it has already been seen.
    const waitUntil = ends && after.event === "none" ? deadline : Math.min(idleUntil, deadline);
    if (now >= waitUntil) break;
    const event = await inbox.next(waitUntil);
    if (event === null) continue;
    if (event.type === "disconnected") {
      return {
        ...(after.event === "none" ? { event: "disconnected", line: null } : after),
        disconnected: true,
      };
    }
    output.push(event.text);
    if (ends && after.event === "none") {
      const seen =
        afterEventOf(event.text) ?? (/Linux version |SeaBIOS/.test(event.text) ? "boot-banner" : null);
      if (seen) after = { event: seen, line: event.text.trim() };
    }
  }
  return ends ? { ...after, disconnected: false } : undefined;
}
