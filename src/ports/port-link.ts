/**
 * A port's one path to the wire: the device connection that keeps the transport open, the queue
 * every wire operation runs through (bytes of two requests never interleave), the line's SysRq arm
 * state, and a deadline on every wire call, after which the link is reset so a stuck device fails one
 * request instead of wedging the port. BREAKs and keys go out through break-wire.ts; the target's
 * output goes to the capture and listeners through target-output.ts.
 */
import type { Logger } from "pino";
import type { PortConfig } from "../config/types.js";
import { ptyOfChardev, type QmpClient } from "../control/qmp.js";
import { BridgeError } from "../errors.js";
import type { Clock } from "../clock.js";
import type { ConsoleFeed, SysrqWire } from "../sysrq/port-contract.js";
import { transportLog, type TransportFactory } from "../transports/create.js";
import type { BreakCapability, Transport } from "../transports/transport.js";
import type { DeviceHolder } from "../transports/uucp-lock.js";
import type { Capture } from "../capture/capture.js";
import { BreakWire, type HeldBreak } from "./break-wire.js";
import { DeviceConnection, type PortState } from "./device-connection.js";
import { LinePacer, LINE_BUDGET_MS, type Reservation } from "./line-pacer.js";
import { SysrqArm } from "./sysrq-arm.js";
import { TargetOutput } from "./target-output.js";
import { WireQueue } from "./wire-queue.js";
import { withDeadline } from "./wire-deadline.js";

/** A telnet port has no line of its own (QEMU, a terminal server): paced as 115200 baud. */
const TELNET_BAUD = 115_200;
/** Columns or rows a client may ask of a program's terminal: a bound on what a client can set. */
export const MAX_TERMINAL_SIDE = 1000;

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
  private readonly output: TargetOutput;
  private readonly breaks: BreakWire;
  private readonly stateListeners = new Set<(state: PortState) => void>();
  /** The writer's last terminal size, applied again when the program restarts on a new pty. */
  private terminalSize: { cols: number; rows: number } | null = null;
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
    this.output = new TargetOutput(deps.capture, deps.clock);
    this.breaks = new BreakWire(config, {
      ...deps,
      arm: this.arm,
      withDeadline: (op, extraMs, what) => this.withDeadline(op, extraMs, what),
    });
    const qmp = deps.qmp;
    const log = transportLog(deps.log);
    const context = qmp
      ? { log, resolveChardevPath: (chardev: string) => ptyOfChardev(qmp, chardev) }
      : { log };
    this.device = new DeviceConnection(
      config.transport,
      (transportConfig) => deps.createTransport(transportConfig, context),
      {
        data: (chunk) => this.output.received(chunk),
        state: (state) => {
          for (const listener of this.stateListeners) listener(state);
        },
        opened: (transport) => {
          this.lastCapability = transport.breakCapability();
          this.arm.reset();
          if (this.terminalSize) transport.resize?.(this.terminalSize.cols, this.terminalSize.rows);
        },
        lost: (reason) => {
          this.arm.reset();
          deps.capture.markGap(reason);
          this.output.disconnected();
        },
      },
      deps.log,
    );
  }

  get state(): PortState {
    return this.device.state;
  }

  /** Calls `listener` on each state change; returns the unsubscribe. */
  onState(listener: (state: PortState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
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

  /**
   * The terminal size for the wire's program (an exec port's pty; other wires ignore it), kept for
   * the next open. Out-of-range values are bounded to 1..MAX_TERMINAL_SIDE; non-numbers are ignored.
   */
  resize(cols: number, rows: number): void {
    if (!Number.isFinite(cols) || !Number.isFinite(rows)) return;
    const bound = (n: number): number => Math.min(MAX_TERMINAL_SIDE, Math.max(1, Math.trunc(n)));
    this.terminalSize = { cols: bound(cols), rows: bound(rows) };
    this.device.current?.resize?.(this.terminalSize.cols, this.terminalSize.rows);
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
    this.output.disconnected();
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
      case "exec":
      case "ipmi-sol":
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
   * A BREAK its sender ends (RFC 2217 SET-CONTROL BREAK-ON ... BREAK-OFF), run inside the queue: held
   * where the wire can hold one (BreakWire.hold); other wires (IAC BRK, QMP chardev-send-break) send
   * their one BREAK at once. `started` is called once the line is in BREAK.
   */
  async holdBreak(
    transport: Transport,
    owner: string,
    release: AbortSignal,
    started: () => void,
  ): Promise<HeldBreak> {
    const held = await this.breaks.hold(transport, owner, release, started);
    if (held) return held;
    this.requireBreakable();
    await this.wire(transport, owner).sendBreak(this.config.breakMs);
    started();
    return { held: false, heldMs: 0, capped: false };
  }

  /** Every byte the target prints, live, with its capture offset. */
  onOutput(listener: (chunk: Buffer, offset: number) => void): () => void {
    return this.output.onOutput(listener);
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
    return this.breaks.wire(transport, owner);
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
    return this.output.feed;
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
