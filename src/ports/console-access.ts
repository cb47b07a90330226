/**
 * What console clients (WebSocket viewers, telnet and RFC 2217 clients) do on a port's wire:
 * input, BREAKs they own (and may hold), serial line settings. All of it goes through the port's
 * link, so it queues behind SysRq sequences and obeys the same arm: after a client's own BREAK its
 * next byte is a SysRq key, whose verdict is read from the console as for HTTP SysRq. Who may do what
 * (lease, roles, audit health) is console-break-guard.ts, checked when the op's turn comes.
 */
import type { Logger } from "pino";
import { BridgeError } from "../errors.js";
import type { PortConfig } from "../config/types.js";
import type { Clock } from "../clock.js";
import { ConsoleInbox } from "../sysrq/console-inbox.js";
import { SYSRQ_ARM_WINDOW_MS } from "../sysrq/plan.js";
import type { KeyResult } from "../sysrq/result.js";
import { DEFAULT_SYSRQ_TIMEOUT_MS, readVerdict } from "../sysrq/run.js";
import type { LineChange, Transport } from "../transports/transport.js";
import {
  afterKey,
  breakRefusal,
  checkArmedKey,
  inputRefusal,
  type ConsoleCaller,
} from "./console-break-guard.js";
import type { HeldBreak } from "./break-wire.js";
import type { PortLink } from "./port-link.js";

export type { ConsoleCaller } from "./console-break-guard.js";

/** What came of a client's input: what it did not send, and the SysRq key it sent, if any. */
export interface ConsoleInput {
  /** Bytes after the SysRq key not sent: the caller does not hold the writer lease. */
  readonly dropped: number;
  /** The key after the caller's own BREAK; `result` settles once the kernel answered (or timed out). */
  readonly sysrq: { readonly key: string; readonly result: Promise<KeyResult> } | null;
}

/** What came of a client's line setting: applied to the device, or echoed only, and why. */
export type LineChangeOutcome =
  { readonly applied: true } | { readonly applied: false; readonly reason: string };

/** Input held back by someone else's arm waits this long past the kernel's 5 s window. */
const ARM_LAPSE_MARGIN_MS = 100;

export class ConsoleAccess {
  constructor(
    private readonly config: PortConfig,
    private readonly link: PortLink,
    private readonly deps: { readonly clock: Clock; readonly log: Logger },
  ) {}

  /** True while `callerId`'s own BREAK has the line armed: its next byte is a SysRq key. */
  armedBy(callerId: string): boolean {
    return this.link.arm.armedBy(callerId);
  }

  /** A BREAK from a console client: it owns the arm, so its next byte goes out as the SysRq key. */
  async break(caller: ConsoleCaller, breakMs?: number): Promise<void> {
    await this.link.runOnWire("breakable", (transport) => this.runBreak(transport, caller, breakMs));
  }

  /** break(), but false (nothing sent, ever) when the queue does not free within `startMs`. */
  async breakWithin(caller: ConsoleCaller, startMs: number): Promise<boolean> {
    const outcome = await this.link.runOnWireWithin("breakable", startMs, (transport) =>
      this.runBreak(transport, caller),
    );
    return outcome.started;
  }

  private async runBreak(transport: Transport, caller: ConsoleCaller, breakMs?: number): Promise<void> {
    const refused = breakRefusal(caller);
    if (refused) throw refused;
    await this.link.wire(transport, caller.id).sendBreak(breakMs ?? this.config.breakMs);
    this.deps.log.info({ caller: caller.name }, "console break");
  }

  /**
   * A BREAK the console client ends itself (RFC 2217 BREAK-ON ... BREAK-OFF): held on a tty until
   * `release` aborts (at most MAX_BREAK_HOLD_MS), one BREAK elsewhere; the caller owns the arm, which
   * starts when the BREAK ends. `started` is called once the line is in BREAK. Null when the queue
   * did not free within `startMs` (nothing is sent, ever).
   */
  async heldBreak(
    caller: ConsoleCaller,
    options: { readonly release: AbortSignal; readonly startMs: number; readonly started: () => void },
  ): Promise<HeldBreak | null> {
    const outcome = await this.link.runOnWireWithin("open", options.startMs, async (transport) => {
      const refused = breakRefusal(caller);
      if (refused) throw refused;
      const result = await this.link.holdBreak(transport, caller.id, options.release, options.started);
      const details = { caller: caller.name, held: result.held, heldMs: Math.round(result.heldMs) };
      if (result.capped) this.deps.log.warn(details, "console break held too long: released");
      else this.deps.log.info(details, "console break");
      return result;
    });
    return outcome.started ? outcome.value : null;
  }

  /**
   * A serial line setting asked for by a console client. Applied only on a tty whose port sets
   * allowLineControl, through the queue (never in the middle of a sequence); otherwise the reason.
   */
  async applyLine(change: LineChange, startMs: number): Promise<LineChangeOutcome> {
    if (!this.config.allowLineControl) {
      return { applied: false, reason: `allowLineControl is off for port ${this.config.id}` };
    }
    try {
      if (!this.link.requireOpen().line) {
        return { applied: false, reason: `a ${this.config.transport.kind} port has no serial line to set` };
      }
      const outcome = await this.link.runOnWireWithin("open", startMs, async (transport) => {
        await transport.line?.apply(change);
        this.deps.log.info({ change }, "line setting applied");
      });
      return outcome.started ? { applied: true } : { applied: false, reason: "the port's queue was busy" };
    } catch (err) {
      return { applied: false, reason: (err as Error).message };
    }
  }

  /**
   * Console input, in order through the port's queue. After the caller's own BREAK, its first byte
   * is a SysRq key: checked against the caller's role and the port's sysrqMask, and if refused the arm
   * is cancelled with a second BREAK so the byte can never run (the error's details name the key).
   * Input while someone else's BREAK has the line armed waits until that arm has lapsed (at most 5 s).
   */
  async input(data: Buffer, caller: ConsoleCaller): Promise<ConsoleInput> {
    return this.link.runOnWire("open", async (opened) => {
      let transport = opened;
      const armed = this.link.arm.armedBy(caller.id);
      const refused = inputRefusal(caller, armed, data.length);
      if (refused) throw refused;
      let bytes = data;
      let sysrq: ConsoleInput["sysrq"] = null;
      let dropped = 0;
      if (armed) {
        const key = String.fromCharCode(bytes[0] ?? 0);
        try {
          checkArmedKey(caller, key, this.config.sysrqMask);
        } catch (err) {
          await this.link.wire(transport).sendBreak(this.config.breakMs); // a second BREAK cancels the arm
          this.link.arm.reset();
          throw err instanceof BridgeError
            ? new BridgeError(err.code, err.message, { cause: err, details: { ...err.details, key } })
            : err;
        }
        sysrq = { key, ...(await this.sendKey(transport, key)) };
        const rest = afterKey(caller, bytes.subarray(1));
        dropped = bytes.length - 1 - rest.length;
        bytes = rest;
      } else {
        const armedFor = this.link.arm.armedFor();
        if (armedFor !== null) {
          await this.deps.clock.sleep(SYSRQ_ARM_WINDOW_MS - armedFor + ARM_LAPSE_MARGIN_MS);
          transport = this.link.requireOpen();
        }
      }
      if (bytes.length > 0) await this.link.writeBytes(transport, bytes, "console write");
      return { dropped, sysrq };
    });
  }

  /**
   * Writes the key and starts reading its verdict (subscribed before the key goes out), which
   * settles outside the queue: the client's next input need not wait for the kernel.
   */
  private async sendKey(transport: Transport, key: string): Promise<{ result: Promise<KeyResult> }> {
    const { clock } = this.deps;
    const inbox = new ConsoleInbox(this.link.feed(), clock);
    try {
      const start = clock.now();
      await this.link.wire(transport).sendKey(key);
      const wait = {
        start,
        keyWrittenAt: clock.now(),
        timeoutMs: DEFAULT_SYSRQ_TIMEOUT_MS,
        // As HTTP SysRq's default: a "disabled" line userspace could print waits this long for the header.
        settleMs: 100,
      };
      const result = readVerdict(key, inbox, wait, { feed: this.link.feed(), clock });
      return { result: result.finally(() => inbox.close()) };
    } catch (err) {
      inbox.close();
      throw err;
    }
  }
}
