/**
 * What console clients (WebSocket viewers, telnet and RFC 2217 connections) do on a port's wire:
 * input, BREAKs they own (and may hold), serial line settings. All of it goes through the port's
 * link, so it queues behind SysRq sequences and obeys the same arm: after a client's own BREAK its
 * next byte is a SysRq key, checked against its role and the port's sysrqMask.
 */
import type { Logger } from "pino";
import type { PortConfig } from "../config/types.js";
import type { Clock } from "../sysrq/console.js";
import { checkKeysSendable } from "../sysrq/guard.js";
import { SYSRQ_ARM_WINDOW_MS } from "../sysrq/plan.js";
import type { LineChange } from "../transports/transport.js";
import type { HeldBreak, PortLink } from "./port-link.js";

/** A console client (WebSocket viewer, telnet or RFC 2217 connection) as the port sees it. */
export interface ConsoleCaller {
  /** Unique per connection: who owns an arm. */
  readonly id: string;
  readonly name: string;
  /** Throws when the caller may not send this SysRq key (its role). */
  readonly checkKey: (key: string) => void;
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
    return this.link.line.armedBy(callerId);
  }

  /** A BREAK from a console client: it owns the arm, so its next byte goes out as the SysRq key. */
  async break(caller: ConsoleCaller, breakMs?: number): Promise<void> {
    this.link.requireBreakable();
    await this.link.run(() => this.runBreak(caller, breakMs));
  }

  /** break(), but false (nothing sent, ever) when the queue does not free within `startMs`. */
  async breakWithin(caller: ConsoleCaller, startMs: number): Promise<boolean> {
    this.link.requireBreakable();
    return (await this.link.runWithin(startMs, () => this.runBreak(caller))).started;
  }

  private async runBreak(caller: ConsoleCaller, breakMs?: number): Promise<void> {
    const transport = this.link.requireBreakable();
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
    this.link.requireOpen();
    const outcome = await this.link.runWithin(options.startMs, async () => {
      const transport = this.link.requireOpen();
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
      const outcome = await this.link.runWithin(startMs, async () => {
        const line = this.link.requireOpen().line;
        await line?.apply(change);
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
   * is cancelled with a second BREAK so the byte can never run. Input while someone else's BREAK has
   * the line armed waits until that arm has lapsed (at most 5 s).
   */
  async input(data: Buffer, caller: ConsoleCaller): Promise<void> {
    this.link.requireOpen();
    await this.link.run(async () => {
      let transport = this.link.requireOpen();
      let bytes = data;
      if (this.link.line.armedBy(caller.id)) {
        const key = String.fromCharCode(bytes[0] ?? 0);
        try {
          caller.checkKey(key);
          checkKeysSendable(key, this.config.sysrqMask);
        } catch (err) {
          await this.link.wire(transport).sendBreak(this.config.breakMs); // a second BREAK cancels the arm
          this.link.line.reset();
          throw err;
        }
        await this.link.wire(transport).sendKey(key);
        bytes = bytes.subarray(1);
      } else {
        const armedFor = this.link.line.armedFor();
        if (armedFor !== null) {
          await this.deps.clock.sleep(SYSRQ_ARM_WINDOW_MS - armedFor + ARM_LAPSE_MARGIN_MS);
          transport = this.link.requireOpen();
        }
      }
      if (bytes.length === 0) return;
      await this.link.writeBytes(transport, bytes, "console write");
    });
  }
}
