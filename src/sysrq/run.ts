/**
 * Runs a SysRq key sequence over a port: for each key, plan the wire steps, send them, read the
 * kernel's verdict from the console, await deferred completions, let the output settle. A sequence
 * stops at the first no-response (the remaining keys could land as typed input in a root shell) and
 * after an acknowledged life-ending key (b, o, c): a BREAK + key sent into the next boot would land
 * in a boot loader's "press a key" window or the new kernel's first seconds.
 *
 *   key ─> planKey ─> BREAK / pause / key on the wire ─> lines ─> judgeLine ─> completion ─> settle
 */
import type { Clock } from "../clock.js";
import { ConsoleInbox } from "./console-inbox.js";
import type { ConsoleFeed, SysrqWire } from "./port-contract.js";
import { keyInfo } from "./keys.js";
import { planKey } from "./plan.js";
import { noResponseReason } from "./no-response-reason.js";
import {
  NO_RESPONSE_REASON,
  NO_RESPONSE_STILL_ACTS,
  type AfterReport,
  type CompletionReport,
  type KeyResult,
} from "./result.js";
import type { PhaseTimes } from "./timing.js";
import {
  afterEventOf,
  isBootBanner,
  isCompletionLine,
  markerCount,
  readLine,
  type Judgement,
} from "./verdict.js";

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
    else if (result.verdict === "acknowledged" && keyInfo(key).ends === true)
      stopReason = `key ${key} (${keyInfo(key).action}) ended the target's life (after: ${result.after?.event ?? "none"}); later keys are not sent into what follows`;
  }
  return results;
}

async function runKey(key: string, options: SequenceOptions, deps: SequenceDeps): Promise<KeyResult> {
  const { wire, clock, times } = deps;
  const inbox = new ConsoleInbox(deps.feed, clock);
  try {
    const plan = planKey(wire.armState(), clock.now(), wire.delivery);
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
      { start, keyWrittenAt, ...options, ...(plan.note ? { note: plan.note } : {}) },
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

/** When a key went out, and how long its verdict may take; `note` (the plan's) goes into the result. */
export interface VerdictWait {
  /** When the key's wire steps began (latencies count from here). */
  readonly start: number;
  readonly keyWrittenAt: number;
  readonly timeoutMs: number;
  readonly settleMs: number;
  readonly note?: string;
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
  const { start, keyWrittenAt } = wait;
  const options = wait;
  const output: string[] = [];
  const sentAt = new Date().toISOString();
  const deadline = keyWrittenAt + options.timeoutMs;

  const notes = new Set<string>(wait.note ? [wait.note] : []);
  // A tentative line decides once the console has been quiet settleMs after it (a busy console can
  // hold the kernel's own header back), or at the deadline; never sooner than settleMs after it.
  const tentativeUntil = (at: number): number =>
    Math.max(at + options.settleMs, Math.min(deps.feed.lastActivityAt() + options.settleMs, deadline));
  // A disabled/HELP line held until settleMs has passed without the key's own header.
  let tentative: { judgement: Judgement; at: number; glued: boolean; index: number } | null = null;
  let judgement: Judgement | null = null;
  let glued = false;
  let latencyMs = 0;
  let verdictAt = 0;
  while (!judgement) {
    const event = await inbox.next(tentative ? tentativeUntil(tentative.at) : deadline);
    if (tentative && event === null && clock.now() < tentativeUntil(tentative.at)) continue;
    if (tentative && (event === null || event.type === "disconnected")) {
      ({ judgement, glued } = tentative);
      output.splice(tentative.index, 1);
      notes.add(
        `decided by a line userspace could also have printed ("${judgement.line}"); the key's own header "${keyInfo(key).action}" did not follow before the console was quiet for settleMs`,
      );
      latencyMs = round(tentative.at - start);
      verdictAt = tentative.at;
      times?.add("kernel", tentative.at - keyWrittenAt);
      if (event) inbox.putBack(event); // settle sees the disconnect
      break;
    }
    if (event === null || event.type === "disconnected") {
      times?.add("kernel", clock.now() - keyWrittenAt);
      const reason = event
        ? "the port disconnected before the kernel answered"
        : noResponseReason(key, output);
      // Echoed at a prompt, the key went in as typed input; otherwise it may still run later.
      const fullReason = reason === NO_RESPONSE_REASON ? `${reason}. ${NO_RESPONSE_STILL_ACTS}` : reason;
      const note = notes.size > 0 ? { note: [...notes].join("; ") } : {};
      return {
        key,
        verdict: "no-response",
        line: null,
        latencyMs: null,
        reason: fullReason,
        sentAt,
        mayStillAct: true,
        output,
        ...note,
      };
    }
    const reading = readLine(key, event.text);
    switch (reading.kind) {
      case "final":
        judgement = reading.judgement;
        glued = markerCount(event.text) > 1;
        latencyMs = round(event.at - start);
        times?.add("kernel", event.at - keyWrittenAt);
        verdictAt = event.at;
        if (tentative)
          notes.add(
            `a "${tentative.judgement.line}" line came first; the key's own header followed and wins`,
          );
        break;
      case "tentative":
        if (options.settleMs === 0) {
          judgement = reading.judgement;
          glued = markerCount(event.text) > 1;
          latencyMs = round(event.at - start);
          times?.add("kernel", event.at - keyWrittenAt);
          verdictAt = event.at;
          notes.add(
            `decided by a line userspace could also have printed ("${judgement.line}"); settleMs is 0, so the key's own header was not awaited`,
          );
        } else {
          // The window runs from the key's write: a line read while the BREAK went out cannot be its answer.
          tentative ??= {
            judgement: reading.judgement,
            at: Math.max(event.at, keyWrittenAt),
            glued: markerCount(event.text) > 1,
            index: output.length,
          };
          output.push(event.text);
        }
        break;
      case "foreign":
        notes.add(`ignored a "${reading.action}" header: not this key's action`);
        output.push(event.text);
        break;
      case "none":
        output.push(event.text);
        break;
    }
  }
  if (glued)
    notes.add("the deciding line held several sysrq markers (lines glued together); the last was read");
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
    ...(notes.size > 0 ? { note: [...notes].join("; ") } : {}),
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
      const seen = afterEventOf(event.text) ?? (isBootBanner(event.text) ? "boot-banner" : null);
      if (seen) after = { event: seen, line: event.text.trim() };
    }
  }
  return ends ? { ...after, disconnected: false } : undefined;
}
