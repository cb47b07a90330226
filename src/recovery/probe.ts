/**
 * How alive is the target? Three answers, each with its evidence:
 *
 *   kernel     BREAK + h through the SysRq path: the HELP header comes from interrupt context even
 *              when every task is stuck
 *   userspace  opt-in (probe.userspace) and only with the writer lease free: a CR, and a prompt
 *              matching probe.prompt in the last line printed after it (an echo alone proves nothing:
 *              the tty layer echoes while the foreground program ignores input)
 *   vm         QMP query-status (ports with a qmp block); a QEMU that does not answer is unreachable
 */
import { compileUserRegex } from "../capture/user-regex.js";
import { BridgeError } from "../errors.js";
import type { Port } from "../ports/port.js";

export type KernelState = "alive" | "no-response";
export type UserspaceState = "responsive" | "unresponsive" | "skipped";
export type VmState = "running" | "paused" | "panicked" | "shutdown" | "unreachable";

export interface ProbeResult {
  readonly kernel: KernelState;
  readonly userspace: UserspaceState;
  readonly vm?: VmState;
  readonly evidence: {
    readonly kernel: { readonly verdict: string; readonly line: string | null; readonly reason?: string };
    readonly userspace: { readonly prompt?: string; readonly tail?: string; readonly reason?: string };
    readonly vm?: { readonly status?: string; readonly reason?: string };
  };
}

/** Bytes of output after the CR kept to find the prompt in (a prompt is one short line). */
const TAIL_BYTES = 4096;

export async function probePort(port: Port, probeMs: number): Promise<ProbeResult> {
  const vm = port.qmp ? probeVm(port, probeMs) : null;
  const kernel = await probeKernel(port, probeMs);
  const userspace =
    kernel.state === "alive"
      ? await probeUserspace(port, probeMs)
      : { state: "skipped" as const, evidence: { reason: "the kernel did not answer: no CR sent" } };
  const vmAnswer = vm ? await vm : null;
  return {
    kernel: kernel.state,
    userspace: userspace.state,
    ...(vmAnswer ? { vm: vmAnswer.state } : {}),
    evidence: {
      kernel: kernel.evidence,
      userspace: userspace.evidence,
      ...(vmAnswer ? { vm: vmAnswer.evidence } : {}),
    },
  };
}

async function probeKernel(
  port: Port,
  probeMs: number,
): Promise<{ state: KernelState; evidence: ProbeResult["evidence"]["kernel"] }> {
  try {
    const [help] = await port.sysrq({ keys: "h", timeoutMs: probeMs, settleMs: 100 });
    // "disabled" is the kernel answering too: SysRq is masked, the kernel runs.
    const answered = help?.verdict === "acknowledged" || help?.verdict === "disabled";
    return {
      state: answered ? "alive" : "no-response",
      evidence: {
        verdict: help?.verdict ?? "no-response",
        line: help?.line ?? null,
        ...(help?.reason ? { reason: help.reason } : {}),
      },
    };
  } catch (err) {
    if (!(err instanceof BridgeError) || err.code === "QUEUE_FULL") throw err;
    // The console cannot carry the probe (down, no BREAK): nothing answered, and the reason says why.
    return {
      state: "no-response",
      evidence: { verdict: "not-sent", line: null, reason: `${err.code}: ${err.message}` },
    };
  }
}

async function probeUserspace(
  port: Port,
  probeMs: number,
): Promise<{ state: UserspaceState; evidence: ProbeResult["evidence"]["userspace"] }> {
  const { userspace, prompt } = port.config.probe;
  if (!userspace) {
    return {
      state: "skipped",
      evidence: { reason: "off for this port: probe: { userspace: true } sends a CR to test it" },
    };
  }
  const holder = port.lease.current;
  if (holder) {
    return {
      state: "skipped",
      evidence: { reason: `the writer lease is held by ${holder.holder} (${holder.via}): no CR sent` },
    };
  }
  const pattern = await compileUserRegex(prompt, "probe.prompt").catch((err: unknown) => err as Error);
  if (pattern instanceof Error) return { state: "skipped", evidence: { prompt, reason: pattern.message } };
  let tail = "";
  let matched = false;
  let wake: (() => void) | null = null;
  const untap = port.tapOutput((chunk) => {
    tail = (tail + chunk.toString("latin1")).slice(-TAIL_BYTES);
    if (pattern.test(lastLine(tail))) {
      matched = true;
      wake?.();
    }
  });
  try {
    const start = port.clock.now();
    try {
      await port.write(Buffer.from("\r"), probeMs);
    } catch (err) {
      if (!(err instanceof BridgeError)) throw err;
      // The CR could not go (line busy, link down): userspace was not tested.
      return { state: "skipped", evidence: { prompt, reason: `no CR sent: ${err.code}: ${err.message}` } };
    }
    const wait = start + probeMs - port.clock.now();
    if (!matched && wait > 0) {
      await new Promise<void>((resolve) => {
        const cancel = port.clock.schedule(resolve, wait);
        wake = () => {
          cancel();
          resolve();
        };
      });
    }
  } finally {
    untap();
  }
  const seen = lastLine(tail);
  return matched
    ? { state: "responsive", evidence: { prompt, tail: seen } }
    : {
        state: "unresponsive",
        evidence: {
          prompt,
          tail: seen,
          reason: `no line matching ${prompt} within ${probeMs} ms of a CR`,
        },
      };
}

/** The line the cursor is on: after the last newline, without CRs and ANSI escapes. */
function lastLine(text: string): string {
  const line = text.slice(text.lastIndexOf("\n") + 1);
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r/g, "");
}

async function probeVm(
  port: Port,
  probeMs: number,
): Promise<{ state: VmState; evidence: NonNullable<ProbeResult["evidence"]["vm"]> }> {
  const qmp = port.qmp;
  if (!qmp) return { state: "unreachable", evidence: { reason: "no qmp block" } };
  let timer: NodeJS.Timeout | undefined;
  try {
    const reply = (await Promise.race([
      qmp.execute("query-status"),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${probeMs} ms`)), probeMs);
      }),
    ])) as { status?: unknown };
    const status = typeof reply.status === "string" ? reply.status : "unknown";
    return { state: vmStateOf(status), evidence: { status } };
  } catch (err) {
    return {
      state: "unreachable",
      evidence: { reason: `QMP at ${qmp.describe()}: ${(err as Error).message}` },
    };
  } finally {
    clearTimeout(timer);
  }
}

/** QEMU's RunState in the probe's words: anything not running, panicked or shut down is stopped. */
function vmStateOf(status: string): VmState {
  switch (status) {
    case "running":
      return "running";
    case "guest-panicked":
    case "internal-error":
      return "panicked";
    case "shutdown":
      return "shutdown";
    default:
      return "paused";
  }
}
