/**
 * One configured port: its connection, its capture, its request queue and its SysRq arm state.
 * Every request that touches the wire runs through the queue; every wire call has a deadline, after
 * which the link is reset so a stuck device fails one request instead of wedging the port.
 */
import type { Logger } from "pino";
import type { PortConfig } from "../config/types.js";
import { KEYBOARD_KEYS } from "../control/keyboard.js";
import { ptyOfChardev, type QmpClient } from "../control/qmp.js";
import { RedfishError, type RedfishClient } from "../control/redfish.js";
import { BridgeError } from "../errors.js";
import { runNmi, type NmiResult } from "../nmi/run.js";
import type { Clock, ConsoleEvent, ConsoleFeed, SysrqWire } from "../sysrq/console.js";
import { checkKeysSendable } from "../sysrq/guard.js";
import { QUIET_BEFORE_BREAK_MS, SYSRQ_ARM_WINDOW_MS } from "../sysrq/plan.js";
import type { KeyResult } from "../sysrq/result.js";
import { runSequence, type SequenceOptions } from "../sysrq/run.js";
import type { TransportFactory } from "../transports/create.js";
import type { BreakCapability, Transport } from "../transports/transport.js";
import type { Capture } from "./capture.js";
import { Connection } from "./connection.js";
import { keyboardWire, qmpSerialBreak } from "./qmp-wire.js";
import { nmiMethodFor } from "./nmi-method.js";
import { describeTarget, type NmiCapability, type PortInfo } from "./port-info.js";
import { LineState } from "./line-state.js";
import { WriterLease } from "./lease.js";
import { SerialQueue } from "./queue.js";

/** A wire call that takes longer than this (plus any BREAK hold) counts as stuck. */
export const WIRE_DEADLINE_MS = 2000;

export interface SysrqRequest {
  readonly keys: string;
  readonly timeoutMs: number;
  readonly settleMs: number;
  readonly breakMs?: number;
}

/** A console client (WebSocket viewer, telnet or RFC 2217 connection) as the port sees it. */
export interface ConsoleCaller {
  /** Unique per connection: who owns an arm. */
  readonly id: string;
  readonly name: string;
  /** Throws when the caller may not send this SysRq key (its role). */
  readonly checkKey: (key: string) => void;
}

/** Input held back by someone else's arm waits this long past the kernel's 5 s window. */
const ARM_LAPSE_MARGIN_MS = 100;

export interface PortStats {
  readonly state: string;
  readonly reconnects: number;
  readonly queueDepth: number;
  readonly capturedBytes: number;
}

export interface PortDeps {
  readonly createTransport: TransportFactory;
  readonly capture: Capture;
  readonly clock: Clock;
  readonly log: Logger;
  /** The port's QEMU control connection, when its config has a qmp block. */
  readonly qmp: QmpClient | null;
  /** The BMC behind this port, when its nmi is redfish. */
  readonly redfish: RedfishClient | null;
}

export class Port {
  readonly id: string;
  private readonly connection: Connection;
  private readonly queue: SerialQueue;
  private readonly consoleListeners = new Set<(event: ConsoleEvent) => void>();
  private readonly line: LineState;
  /** The console's writer lease: many readers, one writer. */
  readonly lease: WriterLease;
  private readonly outputListeners = new Set<(chunk: Buffer, offset: number) => void>();
  private lastCapability: BreakCapability = {
    available: false,
    reason: "not known until the port has been opened",
  };

  constructor(
    readonly config: PortConfig,
    private readonly deps: PortDeps,
  ) {
    this.id = config.id;
    this.queue = new SerialQueue(config.queueLimit);
    this.line = new LineState(deps.clock);
    this.lease = new WriterLease(config.id);
    deps.capture.onLine((line) => this.publish({ type: "line", text: line.text, at: line.at }));
    const qmp = deps.qmp;
    const context = qmp ? { resolveChardevPath: (chardev: string) => ptyOfChardev(qmp, chardev) } : {};
    this.connection = new Connection(
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
          this.line.reset();
        },
        lost: (reason) => {
          this.line.reset();
          deps.capture.markGap(reason);
          this.publish({ type: "disconnected", at: deps.clock.now() });
        },
      },
      deps.log,
    );
  }

  get capture(): Capture {
    return this.deps.capture;
  }

  start(): void {
    this.connection.start();
  }

  info(): PortInfo {
    const reason = this.connection.reason;
    const breakCapability = this.breakCapability(this.connection.current);
    return {
      id: this.id,
      kind: this.config.transport.kind,
      target: describeTarget(this.config.transport),
      state: this.connection.state,
      ...(reason === undefined ? {} : { reason }),
      capabilities: {
        break: breakCapability,
        sysrq:
          this.config.sysrqVia === "keyboard"
            ? { available: true, method: "keyboard" }
            : { available: breakCapability.available, method: "break" },
        nmi: this.nmiCapability(),
      },
    };
  }

  /** Counters for metrics: read on each scrape, never pushed. */
  stats(): PortStats {
    return {
      state: this.connection.state,
      reconnects: Math.max(0, this.connection.opens - 1),
      queueDepth: this.queue.depth,
      capturedBytes: this.deps.capture.size,
    };
  }

  private publish(event: ConsoleEvent): void {
    for (const listener of this.consoleListeners) listener(event);
  }

  private requireOpenTransport(): Transport {
    const transport = this.connection.current;
    if (!transport) {
      throw new BridgeError(
        "PORT_UNAVAILABLE",
        `port ${this.id} is ${this.connection.state}: ${this.connection.reason ?? ""}`.trim(),
        {
          details: { state: this.connection.state },
        },
      );
    }
    return transport;
  }

  /** A BREAK through QMP works whatever the chardev backend is; otherwise the wire decides. */
  private breakCapability(transport: Transport | null): BreakCapability {
    const via = this.config.breakVia;
    if (via && this.deps.qmp) {
      return {
        available: true,
        method: "qmp-chardev-send-break",
        reason: `QMP chardev-send-break on chardev ${via.chardev} at ${this.deps.qmp.describe()}`,
      };
    }
    return transport?.breakCapability() ?? this.lastCapability;
  }

  private requireBreakableTransport(): Transport {
    const transport = this.requireOpenTransport();
    const capability = this.breakCapability(transport);
    if (!capability.available) {
      throw new BridgeError(
        "BREAK_UNSUPPORTED",
        `port ${this.id} cannot send a BREAK: ${capability.reason ?? "unsupported"}`,
      );
    }
    return transport;
  }

  async sysrq(request: SysrqRequest, onResult?: (result: KeyResult) => void): Promise<KeyResult[]> {
    checkKeysSendable(request.keys, this.config.sysrqMask);
    const keyboard = this.config.sysrqVia === "keyboard" ? this.deps.qmp : null;
    if (keyboard && !KEYBOARD_KEYS.test(request.keys)) {
      throw new BridgeError(
        "INVALID_KEY",
        "a keyboard SysRq port takes only 0-9 and a-z (no upper-case keys)",
      );
    }
    const check = (): Transport =>
      keyboard ? this.requireOpenTransport() : this.requireBreakableTransport();
    check();
    return this.queue.run(async () => {
      const transport = check();
      const options: SequenceOptions = {
        timeoutMs: request.timeoutMs,
        settleMs: request.settleMs,
        breakMs: request.breakMs ?? this.config.breakMs,
      };
      const results = await runSequence(
        request.keys,
        options,
        {
          wire: keyboard ? keyboardWire(keyboard) : this.wire(transport),
          feed: this.feed(),
          clock: this.deps.clock,
        },
        onResult,
      );
      this.deps.log.info(
        {
          keys: request.keys,
          verdicts: results.map((r) => ({ key: r.key, verdict: r.verdict, latencyMs: r.latencyMs ?? null })),
        },
        "sysrq",
      );
      return results;
    });
  }

  /** A plain BREAK (for firmware that wants one); it arms SysRq, which the next SysRq request uses. */
  async sendBreak(breakMs: number | undefined): Promise<{ breakMs: number; method: string }> {
    this.requireBreakableTransport();
    return this.queue.run(async () => {
      const transport = this.requireBreakableTransport();
      const hold = breakMs ?? this.config.breakMs;
      await this.wire(transport).sendBreak(hold);
      this.deps.log.info({ breakMs: hold }, "break");
      return { breakMs: hold, method: this.breakCapability(transport).method ?? "unknown" };
    });
  }

  /**
   * Console input (a harness typing a command). Within 5 s of a BREAK the kernel would take the first
   * byte as a SysRq key, so input is refused then rather than run as an arbitrary SysRq command.
   */
  async write(data: Buffer): Promise<{ bytes: number }> {
    this.requireOpenTransport();
    return this.queue.run(async () => {
      const transport = this.requireOpenTransport();
      const armedFor = this.line.armedFor();
      if (armedFor !== null) {
        throw new BridgeError(
          "SYSRQ_ARMED",
          `a BREAK ${Math.round(armedFor)} ms ago left SysRq armed: the first byte would run as a SysRq key. ` +
            `Send the key with POST /ports/${this.id}/sysrq, or write again in ${Math.ceil((SYSRQ_ARM_WINDOW_MS - armedFor) / 1000)} s`,
        );
      }
      this.line.byteSent();
      await this.withDeadline(transport.write(data), Math.ceil(data.length / 10), "write");
      this.deps.log.info({ bytes: data.length }, "console write");
      return { bytes: data.length };
    });
  }

  /** Every byte the target prints, live, with its capture offset (viewers, re-exports). */
  onOutput(listener: (chunk: Buffer, offset: number) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** True while `callerId`'s own BREAK has the line armed: its next byte is a SysRq key. */
  consoleArmedBy(callerId: string): boolean {
    return this.line.armedBy(callerId);
  }

  /** A BREAK from a console client: it owns the arm, so its next byte goes out as the SysRq key. */
  async consoleBreak(caller: ConsoleCaller, breakMs?: number): Promise<void> {
    this.requireBreakableTransport();
    await this.queue.run(async () => {
      const transport = this.requireBreakableTransport();
      await this.wire(transport, caller.id).sendBreak(breakMs ?? this.config.breakMs);
      this.deps.log.info({ caller: caller.name }, "console break");
    });
  }

  /**
   * Console input, in order through the port's queue. After the caller's own BREAK, its first byte
   * is a SysRq key: checked against the caller's role and the port's sysrqMask, and if refused the arm
   * is cancelled with a second BREAK so the byte can never run. Input while someone else's BREAK has
   * the line armed waits until that arm has lapsed (at most 5 s).
   */
  async consoleInput(data: Buffer, caller: ConsoleCaller): Promise<void> {
    this.requireOpenTransport();
    await this.queue.run(async () => {
      let transport = this.requireOpenTransport();
      let bytes = data;
      if (this.line.armedBy(caller.id)) {
        const key = String.fromCharCode(bytes[0] ?? 0);
        try {
          caller.checkKey(key);
          checkKeysSendable(key, this.config.sysrqMask);
        } catch (err) {
          await this.wire(transport).sendBreak(this.config.breakMs); // a second BREAK cancels the arm
          this.line.reset();
          throw err;
        }
        await this.wire(transport).sendKey(key);
        bytes = bytes.subarray(1);
      } else {
        const armedFor = this.line.armedFor();
        if (armedFor !== null) {
          await this.deps.clock.sleep(SYSRQ_ARM_WINDOW_MS - armedFor + ARM_LAPSE_MARGIN_MS);
          transport = this.requireOpenTransport();
        }
      }
      if (bytes.length === 0) return;
      this.line.byteSent();
      await this.withDeadline(transport.write(bytes), Math.ceil(bytes.length / 10), "console write");
    });
  }

  private nmiCapability(): NmiCapability {
    const method = nmiMethodFor(this.config, this.deps.qmp, this.deps.redfish);
    return method
      ? { available: true, method: method.method, reason: method.where }
      : { available: false, reason: "no nmi configured for this port" };
  }

  /** Injects an NMI and reads the kernel's verdict from this port's console. */
  async nmi(timeoutMs: number): Promise<NmiResult> {
    const method = nmiMethodFor(this.config, this.deps.qmp, this.deps.redfish);
    if (!method) {
      throw new BridgeError(
        "NMI_UNSUPPORTED",
        `port ${this.id} has no NMI method: add \`qmp: { path: /run/${this.id}-qmp.sock }\` and \`nmi: { kind: qmp }\` ` +
          "to the port (QEMU: -qmp unix:PATH,server=on,wait=off), or nmi: { kind: redfish, url, username, passwordEnv } for a BMC",
      );
    }
    this.requireOpenTransport();
    return this.queue.run(async () => {
      this.requireOpenTransport();
      const inject = async (): Promise<void> => {
        try {
          await method.inject();
        } catch (err) {
          if (err instanceof RedfishError && err.kind === "unsupported") {
            throw new BridgeError("NMI_UNSUPPORTED", err.message, { cause: err });
          }
          throw new BridgeError("NMI_FAILED", `${method.method} NMI failed: ${(err as Error).message}`, {
            cause: err,
          });
        }
      };
      const result = await runNmi(inject, timeoutMs, { feed: this.feed(), clock: this.deps.clock });
      this.deps.log.info({ verdict: result.verdict, latencyMs: result.latencyMs }, "nmi");
      return result;
    });
  }

  /** @param owner who sent the BREAKs (a console connection), null for a self-contained request */
  private wire(transport: Transport, owner: string | null = null): SysrqWire {
    return {
      delivery: "break",
      armState: () => ({ armedAt: this.line.armedAt }),
      sendBreak: async (holdMs) => {
        const quietFor = this.deps.clock.now() - this.line.lastWriteAt;
        if (quietFor < QUIET_BEFORE_BREAK_MS) await this.deps.clock.sleep(QUIET_BEFORE_BREAK_MS - quietFor);
        // Through QMP, the key may only follow once QMP has returned, or it reaches the UART first.
        const via = this.config.breakVia;
        const qmp = this.deps.qmp;
        if (via && qmp) await qmpSerialBreak(qmp, via.chardev);
        else await this.withDeadline(transport.sendBreak(holdMs), holdMs, "BREAK");
        this.line.breakSent(owner);
        this.deps.capture.markBreak();
      },
      sendKey: async (key) => {
        this.line.byteSent();
        await this.withDeadline(transport.write(Buffer.from(key, "latin1")), 0, "key write");
      },
    };
  }

  private feed(): ConsoleFeed {
    return {
      subscribe: (listener) => {
        this.consoleListeners.add(listener);
        return () => this.consoleListeners.delete(listener);
      },
      lastActivityAt: () => this.deps.capture.lastActivityAt(),
    };
  }

  private async withDeadline<T>(operation: Promise<T>, extraMs: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BridgeError(
              "WIRE_TIMEOUT",
              `${what} on port ${this.id} did not complete within ${WIRE_DEADLINE_MS + extraMs} ms; the link was reset`,
            ),
          ),
        WIRE_DEADLINE_MS + extraMs,
      );
    });
    try {
      return await Promise.race([operation, deadline]);
    } catch (err) {
      if (err instanceof BridgeError && err.code === "WIRE_TIMEOUT") await this.connection.reset(err.message);
      if (err instanceof BridgeError) throw err;
      throw new BridgeError(
        "PORT_UNAVAILABLE",
        `${what} on port ${this.id} failed: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for queued work (bounded by the caller), then closes the link and the capture. */
  async stop(): Promise<void> {
    this.deps.qmp?.close();
    await this.connection.stop();
    await this.deps.capture.close();
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }
}
