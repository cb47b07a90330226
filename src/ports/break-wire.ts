/**
 * How BREAKs and SysRq keys go onto a port's wire: after a quiet line (a byte written just before a
 * BREAK can become the key), through QMP when the port says so, under the wire deadline, each BREAK
 * marked in the capture and arming the line for its owner. A BREAK its sender ends (RFC 2217
 * BREAK-ON ... BREAK-OFF) is held here too, where the wire can hold one.
 */
import type { PortConfig } from "../config/types.js";
import type { QmpClient } from "../control/qmp.js";
import type { Capture } from "../capture/capture.js";
import type { Clock } from "../clock.js";
import type { SysrqWire } from "../sysrq/port-contract.js";
import { QUIET_BEFORE_BREAK_MS } from "../sysrq/plan.js";
import type { Transport } from "../transports/transport.js";
import { qmpSerialBreak } from "../control/qmp-wire.js";
import type { SysrqArm } from "./sysrq-arm.js";

/** The longest a client may hold a BREAK (RFC 2217 BREAK-ON without BREAK-OFF): then it is released. */
export const MAX_BREAK_HOLD_MS = 5000;

/** How a held BREAK went: `held` false where the wire sent its one BREAK instead (IAC BRK, QMP). */
export interface HeldBreak {
  readonly held: boolean;
  readonly heldMs: number;
  /** True when MAX_BREAK_HOLD_MS ended it, not its sender. */
  readonly capped: boolean;
}

export interface BreakWireDeps {
  readonly capture: Capture;
  readonly clock: Clock;
  readonly qmp: QmpClient | null;
  readonly arm: SysrqArm;
  /** `operation` bounded by the link's wire deadline (a stuck call resets the link). */
  readonly withDeadline: <T>(operation: Promise<T>, extraMs: number, what: string) => Promise<T>;
}

export class BreakWire {
  constructor(
    private readonly config: PortConfig,
    private readonly deps: BreakWireDeps,
  ) {}

  /** BREAK and key writes on `transport`; `owner` is who sent the BREAKs (a console client), if anyone. */
  wire(transport: Transport, owner: string | null): SysrqWire {
    const { arm, capture, withDeadline } = this.deps;
    const wire: SysrqWire = {
      delivery: "break",
      armState: () => ({ armedAt: arm.armedAt }),
      sendBreak: async (holdMs) => {
        await this.quietLine();
        // Through QMP, the key may only follow once QMP has returned, or it reaches the UART first.
        const via = this.config.breakVia;
        const qmp = this.deps.qmp;
        if (via && qmp) await qmpSerialBreak(qmp, via.chardev);
        else await withDeadline(transport.sendBreak(holdMs), holdMs, "BREAK");
        arm.breakSent(owner);
        capture.markBreak();
      },
      sendKey: async (key) => {
        arm.byteSent();
        capture.noteAction({ kind: "key", key });
        await withDeadline(transport.write(Buffer.from(key, "latin1")), 0, "key write");
      },
      sendBreakAndKey: async (holdMs, key) => {
        const combined = transport.sendBreakThen?.bind(transport);
        if (this.config.breakVia || !combined) {
          await wire.sendBreak(holdMs);
          return wire.sendKey(key);
        }
        await this.quietLine();
        await withDeadline(combined(holdMs, Buffer.from(key, "latin1")), holdMs, "BREAK and key");
        capture.markBreak();
        capture.noteAction({ kind: "key", key });
        arm.byteSent(); // the key consumed the arm at once
      },
      keyAnswered: () => arm.writesRead(),
    };
    return wire;
  }

  /**
   * Holds a BREAK until `release` aborts or MAX_BREAK_HOLD_MS passes, where the wire can (a tty): the
   * SysRq arm starts when it ends, as the target's UART sees it. `started` is called once the line is
   * in BREAK. Null, with nothing sent, where the wire sends one BREAK instead (IAC BRK, QMP). On a pty
   * the ioctls are issued as asked and the pty ignores them, as under ser2net.
   */
  async hold(
    transport: Transport,
    owner: string,
    release: AbortSignal,
    started: () => void,
  ): Promise<HeldBreak | null> {
    const setBreak = transport.setBreak?.bind(transport);
    if (this.config.breakVia || !setBreak || transport.breakCapability().held === false) return null;
    const { clock, withDeadline } = this.deps;
    await this.quietLine();
    try {
      await withDeadline(setBreak(true), 0, "BREAK on");
    } catch (err) {
      await setBreak(false).catch(() => undefined); // a TIOCMSET that failed after TIOCSBRK
      throw err;
    }
    const startedAt = clock.now();
    this.deps.capture.markBreak();
    started();
    const capped = await this.untilReleased(release, MAX_BREAK_HOLD_MS);
    await withDeadline(setBreak(false), 0, "BREAK off");
    this.deps.arm.breakSent(owner);
    return { held: true, heldMs: clock.now() - startedAt, capped };
  }

  /** A byte written just before a BREAK can become the SysRq key: wait until the line has been quiet. */
  private async quietLine(): Promise<void> {
    const { clock, arm } = this.deps;
    const quietFor = clock.now() - arm.lastWriteAt;
    if (quietFor < QUIET_BEFORE_BREAK_MS) await clock.sleep(QUIET_BEFORE_BREAK_MS - quietFor);
  }

  /** Resolves false when `release` aborts, true when `maxMs` passes first. */
  private untilReleased(release: AbortSignal, maxMs: number): Promise<boolean> {
    if (release.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        cancel();
        resolve(false);
      };
      const cancel = this.deps.clock.schedule(() => {
        release.removeEventListener("abort", onAbort);
        resolve(true);
      }, maxMs);
      release.addEventListener("abort", onAbort, { once: true });
    });
  }
}
