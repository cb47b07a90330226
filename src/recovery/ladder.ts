/**
 * Runs one recovery ladder on one port: each step in turn, each with a verdict recorded on the
 * incident, until `until` matches after a step that restarts the target (recovered) or the steps run
 * out (failed). Every action goes through the port's own queue and key guards, audited first.
 *
 *   step ──audit.unavailable? not-sent──> port.sysrq / nmi / probePort / runPower / command
 *        └── restarting step (b, c, power on|cycle|reset, command): wait for `until` ── match: recovered
 *                                                                    └── a new boot's failure report: `until` failed, next step
 *
 * A panicked kernel runs its SysRq keys silently (printk is off after `Kernel panic - not syncing`,
 * yet BREAK + b still reboots it): once the kernel has answered no-response, later SysRq and NMI
 * steps are skipped when a power or command step follows, and without one only b / c go out, blind.
 *
 * A ladder started by `silence` or a periodic probe only suspects a hang: its first probe that finds
 * the kernel alive (and userspace responsive where checked) ends it as `observed`, nothing else sent.
 */
import { StringDecoder } from "node:string_decoder";
import { commandPowerChannel } from "../control/power-command.js";
import type { RecoverConfig, RecoverStep } from "../config/types.js";
import { compileUserRegex, type UserRegex } from "../capture/user-regex.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";
import type { KeyResult } from "../sysrq/result.js";
import type { IncidentStep } from "./incidents.js";
import { RESTARTING_KEYS, isOutOfBand, stepName } from "./ladder-steps.js";
import { runPower } from "./power.js";
import { probePort, type ProbeResult } from "./probe.js";
import { dumpStep } from "./qemu-dump.js";

/** How long one SysRq key of a ladder waits for its answer, and the quiet that ends its output. */
const KEY_TIMEOUT_MS = 5000;
const KEY_SETTLE_MS = 500;
const NMI_TIMEOUT_MS = 5000;
export const PROBE_MS = 2000;
/** A step's `output` is bounded: the lines and the characters of each. */
const OUTPUT_LINES = 200;
const OUTPUT_LINE_CHARS = 500;

export interface LadderContext {
  readonly port: Port;
  readonly config: RecoverConfig;
  readonly steps: readonly RecoverStep[];
  /** Records a step's verdict on the incident. */
  record(step: IncidentStep): void;
  /**
   * Audits an automatic action (principal `recovery`) once it ran; `allowed` says beforehand whether
   * it may run at all (the audit file writable), as for requests.
   */
  audit(action: string, status: number, detail: Record<string, unknown>): Promise<void>;
  allowed(): string | null;
  /** Aborted when the daemon stops: a wait ends at once and no further step runs. */
  readonly signal: AbortSignal;
  /** Where a `qemu-dump` step has QEMU write the dump (the incident's); null/absent: no dump. */
  readonly dumpFile?: string | null;
  /**
   * Started by `silence` or a periodic probe (a suspicion, not a failure report): the first probe
   * step that finds the target alive ends the ladder as `observed`.
   */
  readonly observe: boolean;
  /**
   * A restarting step is about to go out: failures from now on are the new boot's. The watch's
   * `failed` resolves with the header line of a new failure report of a kind in `recover.on`.
   */
  readonly restarting?: () => FailureWatch;
}

/** A new boot's failure report, told to the ladder waiting for `until`. */
export interface FailureWatch {
  readonly failed: Promise<string>;
  close(): void;
}

export type LadderEnd = "recovered" | "failed" | "observed";

export async function runLadder(ctx: LadderContext): Promise<LadderEnd> {
  const { port } = ctx;
  let until: UserRegex;
  try {
    until = await compileUserRegex(ctx.config.until, "recover.until");
  } catch (err) {
    ctx.record(verdictOf("until", "error", [(err as Error).message], port.clock.now()));
    return "failed";
  }
  let kernelSilent = false;
  let probed = false;
  for (const [index, step] of ctx.steps.entries()) {
    const powerFollows = ctx.steps.slice(index + 1).some(isOutOfBand);
    const started = port.clock.now();
    const refused = ctx.allowed();
    if (refused !== null && step.kind !== "wait") {
      ctx.record(verdictOf(stepName(step), "not-sent", [`${refused}; nothing was sent`], started));
      continue;
    }
    switch (step.kind) {
      case "probe": {
        const result = await probePort(port, PROBE_MS);
        if (result.kernel === "no-response") kernelSilent = true;
        const observed = ctx.observe && !probed && isAlive(result);
        probed = true;
        const output = probeOutput(result);
        if (observed)
          output.push("alive: the ladder stops as observed (started by silence or a periodic probe)");
        ctx.record(verdictOf("probe", result.kernel, output, started));
        await ctx.audit("probe", 200, { kernel: result.kernel, userspace: result.userspace });
        if (observed) return "observed";
        break;
      }
      case "sysrq":
        for (const key of step.keys) {
          const name = stepName(step, key);
          const at = port.clock.now();
          const restarting = RESTARTING_KEYS.has(key);
          if (kernelSilent && (powerFollows || !restarting)) {
            const why = powerFollows
              ? "the kernel answered no-response earlier (a panicked kernel runs SysRq keys silently); a power step follows"
              : "the kernel answered no-response earlier; only b / c go out blind";
            ctx.record(verdictOf(name, "skipped", [why], at));
            continue;
          }
          const watch = restarting ? watchFor(port, until, ctx.signal, ctx.restarting?.()) : null;
          const result = await sendKey(port, key);
          ctx.record(verdictOf(name, result.verdict, result.output, at));
          await ctx.audit("sysrq", result.status, { keys: key, verdict: result.verdict });
          if (result.verdict === "no-response") kernelSilent = true;
          // A key the port refused never left: nothing restarts, nothing to wait for.
          if (watch && result.status !== 200) watch.close();
          else if (watch && (await awaitUntil(ctx, watch, at))) return "recovered";
        }
        break;
      case "nmi": {
        if (kernelSilent) {
          const why = "the kernel answered no-response earlier: a panicked kernel prints nothing for an NMI";
          ctx.record(verdictOf("nmi", "skipped", [why], started));
          break;
        }
        try {
          const result = await port.nmi(NMI_TIMEOUT_MS);
          ctx.record(verdictOf("nmi", result.verdict, result.line ? [result.line] : [], started));
          await ctx.audit("nmi", 200, { verdict: result.verdict });
        } catch (err) {
          const failed = failure(err);
          ctx.record(verdictOf("nmi", failed.verdict, failed.output, started));
          await ctx.audit("nmi", failed.status, { code: failed.code });
        }
        break;
      }
      case "qemu-dump": {
        const result = await dumpStep(port, ctx.dumpFile ?? null, step.timeoutMs);
        ctx.record(verdictOf("qemu-dump", result.verdict, result.output, started));
        await ctx.audit("qemu-dump", result.status, { verdict: result.verdict });
        break;
      }
      case "wait": {
        const regex = await compileUserRegex(step.match, "recover.steps.wait.match").catch(
          (err: unknown) => err as Error,
        );
        if (regex instanceof Error) {
          ctx.record(verdictOf(stepName(step), "error", [regex.message], started));
          break;
        }
        const watch = watchFor(port, regex, ctx.signal);
        const line = await watch.until(started + step.timeoutMs);
        watch.close();
        ctx.record(
          verdictOf(stepName(step), line === null ? "timeout" : "matched", line ? [line] : [], started),
        );
        break;
      }
      case "power": {
        const restarting = step.action !== "off";
        const watch = restarting ? watchFor(port, until, ctx.signal, ctx.restarting?.()) : null;
        let done = false;
        try {
          const result = await runPower(port, step.action, ctx.config.untilTimeoutMs, ctx.signal);
          if (await aborted(ctx, step, started, watch)) return "failed";
          done = result.verdict === "done";
          const output = [
            `channel: ${result.evidence.channel}: ${result.evidence.steps.join(", ")}`,
            ...(result.evidence.banner ? [result.evidence.banner] : []),
            ...(result.evidence.reason ? [result.evidence.reason] : []),
          ];
          ctx.record(verdictOf(stepName(step), result.verdict, output, started));
          await ctx.audit("power", 200, { power: step.action, verdict: result.verdict });
        } catch (err) {
          if (await aborted(ctx, step, started, watch)) return "failed";
          const failed = failure(err);
          ctx.record(verdictOf(stepName(step), failed.verdict, failed.output, started));
          await ctx.audit("power", failed.status, { power: step.action, code: failed.code });
        }
        if (watch && !done) watch.close();
        else if (watch && (await awaitUntil(ctx, watch, started))) return "recovered";
        break;
      }
      case "command": {
        const watch = watchFor(port, until, ctx.signal, ctx.restarting?.());
        const channel = commandPowerChannel({ kind: "command", cycle: step.argv, timeoutMs: step.timeoutMs });
        let ran = false;
        try {
          const outcome = await channel.run("cycle", { signal: ctx.signal });
          if (await aborted(ctx, step, started, watch)) return "failed";
          ran = true;
          const output = bounded(`${outcome.stdout ?? ""}${outcome.stderr ?? ""}`.split("\n"));
          ctx.record(verdictOf(stepName(step), "done", output, started));
        } catch (err) {
          if (await aborted(ctx, step, started, watch, (err as Error).message)) return "failed";
          ctx.record(verdictOf(stepName(step), "failed", [(err as Error).message], started));
        }
        await ctx.audit("recover-command", ran ? 200 : 502, {
          argv: step.argv,
          verdict: ran ? "done" : "failed",
        });
        if (!ran) watch.close();
        else if (await awaitUntil(ctx, watch, started)) return "recovered";
        break;
      }
    }
  }
  return "failed";
}

/**
 * The daemon stopped during a power or command step: recorded as `aborted` (what the step did is not
 * known, and nothing waits to find out); the ladder then ends `failed`. False while it runs on.
 */
async function aborted(
  ctx: LadderContext,
  step: Extract<RecoverStep, { kind: "power" | "command" }>,
  started: number,
  watch: LineWatch | null,
  detail?: string,
): Promise<boolean> {
  if (!ctx.signal.aborted) return false;
  watch?.close();
  const output = ["the daemon stopped during this step; it was cut short", ...(detail ? [detail] : [])];
  ctx.record(verdictOf(stepName(step), "aborted", output, started));
  const what = step.kind === "power" ? { power: step.action } : { argv: step.argv };
  await ctx.audit(step.kind === "power" ? "power" : "recover-command", 503, { ...what, verdict: "aborted" });
  return true;
}

/** The kernel answered and userspace, where it was checked, too. */
export function isAlive(result: ProbeResult): boolean {
  return result.kernel === "alive" && result.userspace !== "unresponsive";
}

/** A probe's answer as a step's output lines. */
export function probeOutput(result: ProbeResult): string[] {
  const k = result.evidence.kernel;
  return [
    `kernel: ${result.kernel} (h: ${k.verdict}${k.line ? `: ${k.line}` : ""}${k.reason ? `; ${k.reason}` : ""})`,
    `userspace: ${result.userspace}${result.evidence.userspace.reason ? ` (${result.evidence.userspace.reason})` : ""}`,
    ...(result.vm ? [`vm: ${result.vm}`] : []),
  ];
}

/**
 * Waits for `until` up to untilTimeoutMs from `from`, recording it as an `until` step; a failure report
 * of the new boot ends the wait at once as `failed` (waiting on would only see the same boot fail).
 */
async function awaitUntil(ctx: LadderContext, watch: LineWatch, from: number): Promise<boolean> {
  const line = await watch.until(from + ctx.config.untilTimeoutMs);
  const failed = line === null ? watch.failed() : null;
  watch.close();
  const reason =
    failed !== null
      ? `the target failed again after the restart: ${failed}`
      : `no line matching ${ctx.config.until} within ${ctx.config.untilTimeoutMs} ms`;
  const verdict = line !== null ? "matched" : failed !== null ? "failed" : "timeout";
  ctx.record(verdictOf("until", verdict, [line ?? reason], ctx.port.clock.now()));
  return line !== null;
}

async function sendKey(
  port: Port,
  key: string,
): Promise<{ verdict: string; output: string[]; status: number }> {
  try {
    const [result] = await port.sysrq({ keys: key, timeoutMs: KEY_TIMEOUT_MS, settleMs: KEY_SETTLE_MS });
    return { verdict: result?.verdict ?? "no-response", output: keyOutput(result), status: 200 };
  } catch (err) {
    return failure(err);
  }
}

function keyOutput(result: KeyResult | undefined): string[] {
  if (result === undefined) return [];
  const lines = [...(result.line ? [result.line] : []), ...(result.output ?? [])];
  if (result.reason) lines.push(result.reason);
  return bounded(lines);
}

/** A step the port refused or that failed: its code as the verdict's reason, ladder goes on. */
function failure(err: unknown): { verdict: string; output: string[]; status: number; code: string } {
  if (err instanceof BridgeError) {
    const verdict =
      err.code === "KEY_NOT_ALLOWED"
        ? "refused"
        : err.code === "NMI_UNSUPPORTED" || err.code === "POWER_UNSUPPORTED"
          ? "unsupported"
          : "failed";
    return { verdict, output: [`${err.code}: ${err.message}`], status: err.statusCode, code: err.code };
  }
  return { verdict: "failed", output: [(err as Error).message], status: 500, code: "INTERNAL" };
}

export function verdictOf(step: string, verdict: string, output: string[], startedAt: number): IncidentStep {
  const now = performance.now();
  return {
    step,
    verdict,
    output: bounded(output),
    startedAt: new Date(Date.now() - (now - startedAt)).toISOString(),
    ms: Math.max(0, Math.round(now - startedAt)),
  };
}

function bounded(lines: readonly string[]): string[] {
  return lines
    .filter((line) => line !== "")
    .slice(-OUTPUT_LINES)
    .map((line) => (line.length > OUTPUT_LINE_CHARS ? `${line.slice(0, OUTPUT_LINE_CHARS)}…` : line));
}

interface LineWatch {
  /** The first matching line since the watch began, or null once `deadline` (port clock) passes. */
  until(deadline: number): Promise<string | null>;
  /** The new boot's failure line that ended the wait, if one did. */
  failed(): string | null;
  close(): void;
}

/** The partial line kept for matching (a prompt is short; a line without end is not kept whole). */
const PARTIAL_CHARS = 4096;

/**
 * Watches the console's output from now for `regex`: each complete line, and the line being printed
 * (a `login:` prompt never ends its line), without CRs and ANSI escapes.
 */
function watchFor(port: Port, regex: UserRegex, signal: AbortSignal, failure?: FailureWatch): LineWatch {
  let found: string | null = null;
  let failedLine: string | null = null;
  let wake: (() => void) | null = null;
  void failure?.failed.then((line) => {
    if (found !== null || failedLine !== null) return;
    failedLine = line;
    wake?.();
  });
  let partial = "";
  const decoder = new StringDecoder("utf8");
  const test = (line: string): boolean => {
    // eslint-disable-next-line no-control-regex
    const text = line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
    if (found !== null || !regex.test(text)) return false;
    found = text.trim();
    wake?.();
    return true;
  };
  const untap = port.tapOutput((chunk) => {
    if (found !== null) return;
    const lines = (partial + decoder.write(chunk)).split("\n");
    partial = (lines.pop() ?? "").slice(-PARTIAL_CHARS);
    for (const line of lines) if (test(line)) return;
    test(partial);
  });
  return {
    until: async (deadline) => {
      const wait = deadline - port.clock.now();
      if (found === null && failedLine === null && wait > 0 && !signal.aborted) {
        await new Promise<void>((resolve) => {
          const cancel = port.clock.schedule(resolve, wait);
          wake = () => {
            cancel();
            signal.removeEventListener("abort", onAbort);
            resolve();
          };
          const onAbort = (): void => wake?.();
          signal.addEventListener("abort", onAbort, { once: true });
        });
        wake = null;
      }
      return found;
    },
    failed: () => failedLine,
    close: () => {
      untap();
      failure?.close();
    },
  };
}
