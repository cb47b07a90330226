/**
 * One power action with its verdict read from the target, not from the channel's say-so:
 *
 *   listen to the console ─> channel.run(action) ─> on / cycle / reset: wait for a boot banner
 *                                                  off: QMP status paused, Redfish PowerState Off,
 *                                                       or the command ran / pdudaemon took it
 *
 * The console is watched from before the action, so a banner printed while a command still runs
 * counts; only the lines around it are kept (bounded), and every wait ends at the request's deadline.
 */
import { BridgeError } from "../errors.js";
import {
  PowerChannelError,
  type PowerAction,
  type PowerChannelKind,
  type PowerOutcome,
} from "../control/power-channel.js";
import type { Port } from "../ports/port.js";
import { isBootBanner } from "../sysrq/verdict.js";

export interface PowerEvidence extends PowerOutcome {
  readonly channel: PowerChannelKind;
  /** The boot banner that settled on / cycle / reset, or null. */
  readonly banner: string | null;
  /** ms from the request to the banner. */
  readonly bannerMs?: number;
  /** The last console lines up to the banner (at most EVIDENCE_LINES). */
  readonly output: string[];
  readonly reason?: string;
}

export interface PowerResult {
  readonly action: PowerAction;
  readonly verdict: "done" | "no-effect";
  readonly evidence: PowerEvidence;
  readonly ms: number;
}

const EVIDENCE_LINES = 50;
const EVIDENCE_LINE_CHARS = 1000;

/**
 * `signal` (a ladder's: the daemon stopping) ends the action and its wait for the banner at once; the
 * verdict is then `no-effect` unless a banner came first, and the caller says why.
 */
export async function runPower(
  port: Port,
  action: PowerAction,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<PowerResult> {
  const channel = port.powerChannel;
  if (!channel) {
    throw new BridgeError(
      "POWER_UNSUPPORTED",
      `port ${port.id} has no power channel: add \`power: { kind: qmp }\` (with a qmp block), ` +
        "`power: { kind: command, cycle: [ipmitool, ...] }`, `power: { kind: pdudaemon, hostname, outlet }`, " +
        "`power: { kind: redfish, url, username, passwordEnv }` or `power: { kind: ipmi, host, username, passwordEnv }` to the port",
    );
  }
  if (!channel.actions.includes(action)) {
    throw new BridgeError(
      "POWER_UNSUPPORTED",
      `port ${port.id}'s power channel has no \`${action}\`; it takes ${channel.actions.join(", ")}`,
    );
  }
  const done = port.beginPower();
  const clock = port.clock;
  const start = clock.now();
  const watch = watchForBanner(port, signal);
  // A channel still working past the request's deadline keeps the port busy until it ends.
  let ended: Promise<void> = Promise.resolve();
  try {
    let outcome: PowerOutcome;
    try {
      // The boot that follows is our doing: the watcher must not call it a `reboot` incident.
      const work = channel.run(action, { sending: () => port.capture.noteAction({ kind: "power" }), signal });
      ended = work.then(
        () => undefined,
        () => undefined,
      );
      outcome = await withDeadline(work, start + timeoutMs - clock.now(), channel.where, signal);
    } catch (err) {
      const what = err instanceof PowerChannelError ? err.outcome : { steps: [] };
      if (err instanceof PowerChannelError && err.unsupported) {
        throw new BridgeError("POWER_UNSUPPORTED", `port ${port.id}: power ${action}: ${err.message}`, {
          cause: err,
        });
      }
      throw new BridgeError("POWER_FAILED", `port ${port.id}: power ${action}: ${(err as Error).message}`, {
        cause: err,
        details: { evidence: { channel: channel.kind, ...what } },
      });
    }
    const ms = (): number => Math.round(clock.now() - start);
    if (action === "off") {
      const reason = offShortfall(channel.kind, outcome);
      const done = reason === undefined;
      const evidence = { channel: channel.kind, ...outcome, banner: null, output: watch.lines() };
      return {
        action,
        verdict: done ? "done" : "no-effect",
        evidence: reason ? { ...evidence, reason } : evidence,
        ms: ms(),
      };
    }
    const banner = await watch.banner(start + timeoutMs);
    const evidence: PowerEvidence = {
      channel: channel.kind,
      ...outcome,
      banner: banner?.text ?? null,
      ...(banner ? { bannerMs: Math.round(banner.at - start) } : {}),
      output: watch.lines(),
      ...(banner ? {} : { reason: `no boot banner (Linux version, SeaBIOS, U-Boot) within ${timeoutMs} ms` }),
    };
    return { action, verdict: banner ? "done" : "no-effect", evidence, ms: ms() };
  } finally {
    watch.close();
    void ended.then(done);
    port.log.info({ action }, "power");
  }
}

/** Why an accepted off is not done, or undefined when it is (a command or pdudaemon cannot tell more). */
function offShortfall(kind: PowerChannelKind, outcome: PowerOutcome): string | undefined {
  switch (kind) {
    case "qmp":
      return outcome.status === "paused"
        ? undefined
        : `QEMU reports the VM ${outcome.status ?? "in an unknown state"}, not paused`;
    case "redfish":
      return outcome.status === "Off"
        ? undefined
        : `the BMC reports PowerState ${outcome.status ?? "unknown"}, not Off`;
    case "command":
    case "pdudaemon":
    case "ipmi":
      return undefined;
  }
}

interface BannerWatch {
  /** The first banner seen since the watch began, or null once `deadline` passes without one. */
  banner(deadline: number): Promise<{ text: string; at: number } | null>;
  lines(): string[];
  close(): void;
}

/** Watches the console from now: keeps the last lines (bounded) until the first boot banner. */
function watchForBanner(port: Port, signal: AbortSignal | undefined): BannerWatch {
  const kept: string[] = [];
  let found: { text: string; at: number } | null = null;
  let wake: (() => void) | null = null;
  const unsubscribe = port.consoleFeed().subscribe((event) => {
    if (event.type !== "line" || found) return;
    const text = event.text.trimEnd();
    kept.push(text.length > EVIDENCE_LINE_CHARS ? `${text.slice(0, EVIDENCE_LINE_CHARS)}…` : text);
    if (kept.length > EVIDENCE_LINES) kept.shift();
    if (isBootBanner(text)) {
      found = { text: text.trim(), at: event.at };
      wake?.();
    }
  });
  return {
    banner: async (deadline) => {
      const wait = deadline - port.clock.now();
      if (!found && wait > 0 && signal?.aborted !== true) {
        await new Promise<void>((resolve) => {
          const onAbort = (): void => wake?.();
          const cancel = port.clock.schedule(() => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          }, wait);
          wake = () => {
            cancel();
            signal?.removeEventListener("abort", onAbort);
            resolve();
          };
          signal?.addEventListener("abort", onAbort, { once: true });
        });
        wake = null;
      }
      return found;
    },
    lines: () => [...kept],
    close: unsubscribe,
  };
}

/**
 * The channel's own promise, or a rejection once `ms` pass or `signal` aborts (its work may still
 * finish later: a channel that does not heed the signal is not waited for at shutdown).
 */
function withDeadline<T>(work: Promise<T>, ms: number, where: string, signal?: AbortSignal): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${where} did not answer within the request's timeoutMs`)),
      Math.max(0, ms),
    );
    onAbort = () => reject(new Error(`the daemon is stopping: ${where} was not waited for`));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([work, late]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
  });
}
