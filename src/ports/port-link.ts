/**
 * A port's one path to the wire: the device connection that keeps the transport open, the queue every wire
 * operation runs through (bytes of two requests never interleave), the line's SysRq arm state, and a
 * deadline on every wire call, after which the link is reset so a stuck device fails one request
 * instead of wedging the port. It also fans the target's output out to the capture and listeners.
 */
import type { Logger } from "pino";
import type { PortConfig } from "../config/types.js";
import { ptyOfChardev, type QmpClient } from "../control/qmp.js";
import { BridgeError } from "../errors.js";
import type { Clock, ConsoleEvent, ConsoleFeed, SysrqWire } from "../sysrq/console.js";
import { QUIET_BEFORE_BREAK_MS } from "../sysrq/plan.js";
import { transportLog, type TransportFactory } from "../transports/create.js";
import type { BreakCapability, Transport } from "../transports/transport.js";
import type { DeviceHolder } from "../transports/uucp-lock.js";
import type { Capture } from "../capture/capture.js";
import { DeviceConnection, type PortState } from "./device-connection.js";
import { LinePacer, LINE_BUDGET_MS, type Reservation } from "./line-pacer.js";
import { SysrqArm } from "./sysrq-arm.js";
import { qmpSerialBreak } from "./qmp-wire.js";
import { WireQueue } from "./wire-queue.js";
import { withDeadline } from "./wire-deadline.js";

/** The longest a client may hold a BREAK (RFC 2217 BREAK-ON without BREAK-OFF): then it is released. */
export const MAX_BREAK_HOLD_MS = 5000;

/** A telnet port has no line of its own (QEMU, a terminal server): paced as 115200 baud. */
const TELNET_BAUD = 115_200;

/** How a held BREAK went: `held` false where the wire sent its one BREAK instead (IAC BRK, QMP). */
export interface HeldBreak {
  readonly held: boolean;
  readonly heldMs: number;
  /** True when MAX_BREAK_HOLD_MS ended it, not its sender. */
  readonly capped: boolean;
}

/** What a wire task needs of the link: an open transport, or one that can send a BREAK too. */
export type WireNeed = "open" | "breakable";

export interface LinkDeps {
  readonly createTransport: TransportFactory;
  readonly capture: Capture;
  readonly clock: Clock;
  readonly log: Logger;
  readonly qmp: QmpClient | null;
}

export class PortLink {
  /** What the target's serial_core believes: whether a BREAK has armed SysRq, and by whom. */
  readonly arm: SysrqArm;
  private readonly device: DeviceConnection;
  private readonly queue: WireQueue;
  private readonly pacer: LinePacer;
  private readonly consoleListeners = new Set<(event: ConsoleEvent) => void>();
  private readonly outputListeners = new Set<(chunk: Buffer, offset: number) => void>();
  private stopLines: (() => void) | null = null;
  private lastCapability: BreakCapability = {
    available: false,
    reason: "not known until the port has been opened",
  };

  constructor(
    private readonly config: PortConfig,
    private readonly deps: LinkDeps,
  ) {
    this.queue = new WireQueue(config.queueLimit);
    this.arm = new SysrqArm(deps.clock);
    this.pacer = new LinePacer(deps.clock, () => this.baudRate() / 10);
    const qmp = deps.qmp;
    const log = transportLog(deps.log);
    const context = qmp
      ? { log, resolveChardevPath: (chardev: string) => ptyOfChardev(qmp, chardev) }
      : { log };
    this.device = new DeviceConnection(
      config.transport,
      (transportConfig) => deps.createTransport(transportConfig, context),
      {
        data: (chunk) => {
          const offset = deps.capture.size;
          deps.capture.append(chunk, deps.clock.now());
          for (const listener of this.outputListeners) listener(chunk, offset);
        },
        opened: (transport) => {
          this.lastCapability = transport.breakCapability();
          this.arm.reset();
        },
        lost: (reason) => {
          this.arm.reset();
          deps.capture.markGap(reason);
          this.publish({ type: "disconnected", at: deps.clock.now() });
        },
      },
      deps.log,
    );
  }

  get state(): PortState {
    return this.device.state;
  }

  get reason(): string | undefined {
    return this.device.reason;
  }

  get lockedBy(): DeviceHolder | undefined {
    return this.device.holder;
  }

  /** The open transport, or null while connecting or closed. */
  get current(): Transport | null {
    return this.device.current;
  }

  get reconnects(): number {
    return Math.max(0, this.device.opens - 1);
  }

  get queueDepth(): number {
    return this.queue.depth;
  }

  start(): void {
    this.device.start();
  }

  /**
   * Closes the link for good. A sequence still waiting for the kernel (shutdown's grace has run out)
   * hears the link go, as on a disconnect, and answers now rather than holding the shutdown open.
   */
  async stop(): Promise<void> {
    await this.device.stop();
    this.publish({ type: "disconnected", at: this.deps.clock.now() });
  }

  /** Runs `task` when the port's earlier work is done (429 QUEUE_FULL past the queue's limit). */
  run<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run(task);
  }

  /**
   * Runs `task` in the queue on the transport, which must meet `need` twice: now, so a request to a
   * port that is down fails at once instead of waiting its turn, and when its turn comes (the link
   * may have dropped meanwhile).
   */
  runOnWire<T>(need: WireNeed, task: (transport: Transport) => Promise<T>): Promise<T> {
    this.require(need);
    return this.run(() => task(this.require(need)));
  }

  /** runOnWire(), given up if the queue does not free within `startMs` (see runWithin). */
  runOnWireWithin<T>(
    need: WireNeed,
    startMs: number,
    task: (transport: Transport) => Promise<T>,
  ): Promise<{ started: true; value: T } | { started: false }> {
    this.require(need);
    return this.runWithin(startMs, () => task(this.require(need)));
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /**
   * Runs a write of `bytes` bytes through the queue on the open transport (checked as by runOnWire)
   * if it can start within `startMs`: refused at once
   * (429 QUEUE_FULL, with retryAfterS) when the line time already accepted ahead of it says it
   * cannot, or when it has not started by then (other work held the queue). So the queue never
   * holds more than a writer's timeout worth of bytes, and a SysRq key waits behind at most that.
   */
  async runWrite<T>(
    bytes: number,
    startMs: number,
    task: (transport: Transport, reservation: Reservation) => Promise<T>,
  ): Promise<T> {
    this.require("open");
    const delay = this.pacer.startDelayMs();
    if (delay > startMs) throw this.writeQueueFull(delay, startMs);
    const reservation = this.pacer.reserve(bytes);
    try {
      const outcome = await this.runWithin(startMs, () => task(this.require("open"), reservation));
      if (!outcome.started) throw this.writeQueueFull(this.pacer.startDelayMs() + startMs, startMs);
      return outcome.value;
    } finally {
      reservation.release();
    }
  }

  private writeQueueFull(delayMs: number, startMs: number): BridgeError {
    const retryAfterS = Math.max(1, Math.ceil((delayMs - startMs) / 1000));
    return new BridgeError(
      "QUEUE_FULL",
      `port ${this.config.id}'s line is busy: this write could not start within ${startMs} ms ` +
        `(${Math.round(delayMs)} ms of line time ahead at ${this.baudRate()} baud, ${LINE_BUDGET_MS} ms of it in flight at most); retry in ${retryAfterS} s`,
      { details: { retryAfterS } },
    );
  }

  /** The line's rate for pacing: a tty's as it is now, an RFC 2217 server's as asked, 115200 for telnet. */
  private baudRate(): number {
    const t = this.config.transport;
    switch (t.kind) {
      case "tty":
        return this.device.current?.line?.current().baudRate ?? t.baudRate;
      case "rfc2217":
        return t.line.baudRate;
      case "telnet":
        return TELNET_BAUD;
    }
  }

  /**
   * Like run(), but gives up if `task` cannot start within `startMs` (the queue is busy): resolves
   * `{ started: false }`, and the task is skipped when its turn comes, so it never runs late.
   */
  async runWithin<T>(
    startMs: number,
    task: () => Promise<T>,
  ): Promise<{ started: true; value: T } | { started: false }> {
    let state: "waiting" | "started" | "gave-up" = "waiting";
    let giveUp: () => void = () => undefined;
    const gaveUp = new Promise<{ started: false }>((resolve) => {
      giveUp = this.deps.clock.schedule(() => {
        if (state !== "waiting") return;
        state = "gave-up";
        resolve({ started: false });
      }, startMs);
    });
    const ran = this.run(async () => {
      if (state === "gave-up") return { started: false as const };
      state = "started";
      giveUp();
      return { started: true as const, value: await task() };
    });
    return Promise.race([ran, gaveUp]);
  }

  /**
   * A BREAK its sender ends (RFC 2217 SET-CONTROL BREAK-ON ... BREAK-OFF), run inside the queue. Where
   * the wire can hold one (a tty) the line stays in BREAK until `release` aborts or MAX_BREAK_HOLD_MS
   * passes, and the SysRq arm starts when it ends, as the target's UART sees it. Other wires (IAC
   * BRK, QMP chardev-send-break) send their one BREAK at once. `started` is called once the line is
   * in BREAK. On a pty the ioctls are issued as asked and the pty ignores them, as under ser2net.
   */
  async holdBreak(
    transport: Transport,
    owner: string,
    release: AbortSignal,
    started: () => void,
  ): Promise<HeldBreak> {
    const setBreak = transport.setBreak?.bind(transport);
    if (this.config.breakVia || !setBreak || transport.breakCapability().held === false) {
      this.requireBreakable();
      await this.wire(transport, owner).sendBreak(this.config.breakMs);
      started();
      return { held: false, heldMs: 0, capped: false };
    }
    await this.quietLine();
    try {
      await this.withDeadline(setBreak(true), 0, "BREAK on");
    } catch (err) {
      await setBreak(false).catch(() => undefined); // a TIOCMSET that failed after TIOCSBRK
      throw err;
    }
    const startedAt = this.deps.clock.now();
    this.deps.capture.markBreak();
    started();
    const capped = await this.untilReleased(release, MAX_BREAK_HOLD_MS);
    await this.withDeadline(setBreak(false), 0, "BREAK off");
    this.arm.breakSent(owner);
    return { held: true, heldMs: this.deps.clock.now() - startedAt, capped };
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

  /** Every byte the target prints, live, with its capture offset. */
  onOutput(listener: (chunk: Buffer, offset: number) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** The transport if it meets `need`, else PORT_UNAVAILABLE or BREAK_UNSUPPORTED. */
  require(need: WireNeed): Transport {
    switch (need) {
      case "open":
        return this.requireOpen();
      case "breakable":
        return this.requireBreakable();
    }
  }

  requireOpen(): Transport {
    const transport = this.device.current;
    if (!transport) {
      throw new BridgeError(
        "PORT_UNAVAILABLE",
        `port ${this.config.id} is ${this.device.state}: ${this.device.reason ?? ""}`.trim(),
        { details: { state: this.device.state, lockedBy: this.device.holder } },
      );
    }
    return transport;
  }

  requireBreakable(): Transport {
    const transport = this.requireOpen();
    const capability = this.breakCapability();
    if (!capability.available) {
      throw new BridgeError(
        "BREAK_UNSUPPORTED",
        `port ${this.config.id} cannot send a BREAK: ${capability.reason ?? "unsupported"}`,
      );
    }
    return transport;
  }

  /** A BREAK through QMP works whatever the chardev backend is; otherwise the wire decides. */
  breakCapability(): BreakCapability {
    const via = this.config.breakVia;
    if (via && this.deps.qmp) {
      return {
        available: true,
        method: "qmp-chardev-send-break",
        reason: `QMP chardev-send-break on chardev ${via.chardev} at ${this.deps.qmp.describe()}`,
      };
    }
    return this.device.current?.breakCapability() ?? this.lastCapability;
  }

  /** BREAK and key writes on `transport`; `owner` is who sent the BREAKs (a console client), if anyone. */
  wire(transport: Transport, owner: string | null = null): SysrqWire {
    const wire: SysrqWire = {
      delivery: "break",
      armState: () => ({ armedAt: this.arm.armedAt }),
      sendBreak: async (holdMs) => {
        await this.quietLine();
        // Through QMP, the key may only follow once QMP has returned, or it reaches the UART first.
        const via = this.config.breakVia;
        const qmp = this.deps.qmp;
        if (via && qmp) await qmpSerialBreak(qmp, via.chardev);
        else await this.withDeadline(transport.sendBreak(holdMs), holdMs, "BREAK");
        this.arm.breakSent(owner);
        this.deps.capture.markBreak();
      },
      sendKey: async (key) => {
        this.arm.byteSent();
        await this.withDeadline(transport.write(Buffer.from(key, "latin1")), 0, "key write");
      },
      sendBreakAndKey: async (holdMs, key) => {
        const combined = transport.sendBreakThen?.bind(transport);
        if (this.config.breakVia || !combined) {
          await wire.sendBreak(holdMs);
          return wire.sendKey(key);
        }
        await this.quietLine();
        await this.withDeadline(combined(holdMs, Buffer.from(key, "latin1")), holdMs, "BREAK and key");
        this.deps.capture.markBreak();
        this.arm.byteSent(); // the key consumed the arm at once
      },
      keyAnswered: () => this.arm.writesRead(),
    };
    return wire;
  }

  /** A byte written just before a BREAK can become the SysRq key: wait until the line has been quiet. */
  private async quietLine(): Promise<void> {
    const quietFor = this.deps.clock.now() - this.arm.lastWriteAt;
    if (quietFor < QUIET_BEFORE_BREAK_MS) await this.deps.clock.sleep(QUIET_BEFORE_BREAK_MS - quietFor);
  }

  /**
   * Console input or a harness's write, paced at the line rate (line-pacer.ts): any arm is consumed
   * by its first byte. `reservation` is the place runWrite() kept for these bytes.
   */
  async writeBytes(
    transport: Transport,
    bytes: Buffer,
    what: string,
    reservation?: Reservation,
  ): Promise<void> {
    await this.pacer.send(
      bytes,
      (chunk) => {
        this.arm.byteSent();
        return this.withDeadline(transport.write(chunk), Math.ceil(chunk.length / 10), what);
      },
      reservation,
    );
  }

  /** The console's lines as a sequence reads them (one object for the link's life). */
  feed(): ConsoleFeed {
    return this.consoleFeed;
  }

  private readonly consoleFeed: ConsoleFeed = {
    subscribe: (listener) => {
      // The capture's lines are followed (and decoded to text) only while a sequence waits for them.
      this.stopLines ??= this.deps.capture.onLine((line) =>
        this.publish({ type: "line", text: line.text, at: line.at }),
      );
      this.consoleListeners.add(listener);
      return () => {
        this.consoleListeners.delete(listener);
        if (this.consoleListeners.size > 0) return;
        this.stopLines?.();
        this.stopLines = null;
      };
    },
    lastActivityAt: () => this.deps.capture.lastActivityAt(),
  };

  private publish(event: ConsoleEvent): void {
    for (const listener of this.consoleListeners) listener(event);
  }

  /** `operation` bounded by the wire deadline (wire-deadline.ts); a stuck call resets this link. */
  private withDeadline<T>(operation: Promise<T>, extraMs: number, what: string): Promise<T> {
    return withDeadline(operation, {
      what,
      portId: this.config.id,
      extraMs,
      reset: (reason) => this.device.reset(reason),
    });
  }
}
