/**
 * One configured port and what can be asked of it: SysRq sequences, BREAKs, writes, NMIs, its
 * console clients' access (console-access.ts), its writer lease and its capture. Everything that
 * touches the wire goes through the port's link (port-link.ts): one queue, deadlines, the SysRq arm.
 */
import type { Logger } from "pino";
import type { PortConfig } from "../config/types.js";
import { KEYBOARD_KEYS } from "../control/keyboard.js";
import type { QmpClient } from "../control/qmp.js";
import { IpmiError } from "../control/ipmitool.js";
import { RedfishError, type RedfishClient } from "../control/redfish.js";
import { BridgeError } from "../errors.js";
import { runNmi, type NmiResult } from "../nmi/run.js";
import type { Clock } from "../clock.js";
import { checkKeysSendable } from "../sysrq/guard.js";
import { SYSRQ_ARM_WINDOW_MS } from "../sysrq/plan.js";
import type { KeyResult } from "../sysrq/result.js";
import { runSequence, type SequenceOptions } from "../sysrq/run.js";
import type { PhaseTimes } from "../sysrq/timing.js";
import type { TransportFactory } from "../transports/create.js";
import type { ModemLines } from "../transports/transport.js";
import type { Capture } from "../capture/capture.js";
import { WriterLease } from "./lease.js";
import { nmiMethodFor } from "../control/nmi-method.js";
import { QmpNmiSupport, isNmiRefusal } from "./nmi-support.js";
import {
  describeTarget,
  type LineInfo,
  type NmiCapability,
  type PortInfo,
  type PowerCapability,
} from "./port-info.js";
import type { PowerChannel } from "../control/power-channel.js";
import { powerChannelFor } from "../control/power-method.js";
import type { ConsoleFeed } from "../sysrq/port-contract.js";
import { ConsoleAccess } from "./console-access.js";
import { PortLink } from "./port-link.js";
import { keyboardWire } from "../control/qmp-wire.js";

const LINES_UP: ModemLines = { cts: true, dsr: true, ri: false, cd: true };

export interface SysrqRequest {
  readonly keys: string;
  readonly timeoutMs: number;
  readonly settleMs: number;
  readonly breakMs?: number;
}

export interface PortStats {
  readonly state: string;
  readonly reconnects: number;
  readonly queueDepth: number;
  readonly capturedBytes: number;
  readonly captureLostBytes: number;
  readonly captureDegraded: boolean;
}

export interface PortDeps {
  readonly createTransport: TransportFactory;
  readonly capture: Capture;
  /**
   * Times the wire work (SysRq and NMI sequences, the arm window, pacing, the quiet before a BREAK), so
   * tests can fake it; capture/, reconnect backoff, wire deadlines and retries use Node's own timers.
   */
  readonly clock: Clock;
  readonly log: Logger;
  /** The port's QEMU control connection, when its config has a qmp block. */
  readonly qmp: QmpClient | null;
  /** The BMC behind this port, when its nmi is redfish. */
  readonly redfish: RedfishClient | null;
}

export class Port {
  readonly id: string;
  /** The console's writer lease: many readers, one writer. */
  readonly lease: WriterLease;
  /** What console clients (WebSocket, telnet, RFC 2217) do on the wire: input, BREAKs, line settings. */
  readonly console: ConsoleAccess;
  /** Subscribers of onOutput: every console client, whichever door it came through. */
  private watching = 0;
  private readonly link: PortLink;
  /** What QEMU says of NMI on this machine, for a port whose NMI goes through QMP. */
  private readonly nmiSupport: QmpNmiSupport | null;
  /** The channel that powers the target, from the port's `power:` block. */
  readonly powerChannel: PowerChannel | null;
  private powering = false;

  constructor(
    readonly config: PortConfig,
    private readonly deps: PortDeps,
  ) {
    this.id = config.id;
    this.lease = new WriterLease(config.id);
    this.link = new PortLink(config, deps);
    this.console = new ConsoleAccess(config, this.link, deps);
    this.nmiSupport = config.nmi?.kind === "qmp" && deps.qmp ? new QmpNmiSupport(deps.qmp, deps) : null;
    this.powerChannel = powerChannelFor(config, deps.qmp);
  }

  get capture(): Capture {
    return this.deps.capture;
  }

  start(): void {
    this.link.start();
    this.nmiSupport?.refresh();
  }

  /** Calls `listener` on each change of the link's state (live events); returns the unsubscribe. */
  onState(listener: (state: PortInfo["state"]) => void): () => void {
    return this.link.onState(listener);
  }

  info(): PortInfo {
    const reason = this.link.reason;
    const lockedBy = this.link.lockedBy;
    const breakCapability = this.link.breakCapability();
    return {
      id: this.id,
      kind: this.config.transport.kind,
      target: describeTarget(this.config.transport),
      state: this.link.state,
      ...(reason === undefined ? {} : { reason }),
      ...(lockedBy === undefined ? {} : { lockedBy }),
      capture: this.deps.capture.health,
      line: this.line(),
      capabilities: {
        break: breakCapability,
        sysrq:
          this.config.sysrqVia === "keyboard"
            ? { available: true, method: "keyboard" }
            : { available: breakCapability.available, method: "break" },
        nmi: this.nmiCapability(),
        power: this.powerCapability(),
      },
    };
  }

  /**
   * The modem lines an RFC 2217 client reads: a tty's real ones (TIOCMGET); where there are none
   * (telnet, a pty, whose TIOCMGET fails, or a tty not open now) a line that is up: CTS, DSR and CD on.
   */
  async modemLines(): Promise<ModemLines> {
    const transport = this.link.current;
    if (!transport?.modemLines) return LINES_UP;
    return transport.modemLines().catch(() => LINES_UP);
  }

  /** The terminal size an exec port's program sees on its pty (bounded 1..1000); other wires ignore it. */
  resizeTerminal(cols: number, rows: number): void {
    this.link.resize(cols, rows);
  }

  /**
   * The serial line's real settings: a tty's as configured or as applied since it opened (by an
   * allowLineControl client); what the daemon asks of an RFC 2217 server; null where a port has no
   * serial line of its own (telnet: QEMU, a terminal server's raw port).
   */
  line(): LineInfo | null {
    const t = this.config.transport;
    const allowLineControl = this.config.allowLineControl;
    switch (t.kind) {
      case "tty": {
        const live = this.link.current?.line?.current();
        const line = live ?? {
          baudRate: t.baudRate,
          dataBits: t.dataBits,
          parity: t.parity,
          stopBits: t.stopBits,
          flowControl: t.rtscts ? ("rtscts" as const) : ("none" as const),
          dtr: t.dtr,
          rts: t.rts,
        };
        return { ...line, source: live ? "device" : "config", allowLineControl };
      }
      case "rfc2217":
        return { ...t.line, source: "config", allowLineControl };
      case "telnet":
      case "exec":
      case "ipmi-sol":
        return null;
    }
  }

  /** Counters for metrics: read on each scrape, never pushed. */
  stats(): PortStats {
    return {
      state: this.link.state,
      reconnects: this.link.reconnects,
      queueDepth: this.link.queueDepth,
      capturedBytes: this.deps.capture.size,
      captureLostBytes: this.deps.capture.health.lostBytes,
      captureDegraded: this.deps.capture.health.status === "degraded",
    };
  }

  /** Runs a key sequence; `times` (if given) learns how long it queued and where each key's time went. */
  async sysrq(
    request: SysrqRequest,
    onResult?: (result: KeyResult) => void,
    times?: PhaseTimes,
  ): Promise<KeyResult[]> {
    checkKeysSendable(request.keys, this.config.sysrqMask);
    const keyboard = this.config.sysrqVia === "keyboard" ? this.deps.qmp : null;
    if (keyboard && !KEYBOARD_KEYS.test(request.keys)) {
      throw new BridgeError(
        "INVALID_KEY",
        "a keyboard SysRq port takes only 0-9 and a-z (no upper-case keys)",
      );
    }
    const queuedAt = this.deps.clock.now();
    return this.link.runOnWire(keyboard ? "open" : "breakable", async (transport) => {
      times?.add("queue", this.deps.clock.now() - queuedAt);
      const options: SequenceOptions = {
        timeoutMs: request.timeoutMs,
        settleMs: request.settleMs,
        breakMs: request.breakMs ?? this.config.breakMs,
      };
      const results = await runSequence(
        request.keys,
        options,
        {
          wire: keyboard
            ? // The key's output (l's backtraces, b's new boot) is ours, as after a serial BREAK.
              keyboardWire(keyboard, (key) => this.deps.capture.noteAction({ kind: "key", key }))
            : this.link.wire(transport),
          feed: this.link.feed(),
          clock: this.deps.clock,
          times,
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
    return this.link.runOnWire("breakable", async (transport) => {
      const hold = breakMs ?? this.config.breakMs;
      await this.link.wire(transport).sendBreak(hold);
      this.deps.log.info({ breakMs: hold }, "break");
      return { breakMs: hold, method: this.link.breakCapability().method ?? "unknown" };
    });
  }

  /**
   * Console input (a harness typing a command). Within 5 s of a BREAK the kernel would take the first
   * byte as a SysRq key, so input is refused then rather than run as an arbitrary SysRq command.
   * Paced at the line rate; 429 QUEUE_FULL when it could not start within `startMs`.
   */
  async write(data: Buffer, startMs: number): Promise<{ bytes: number }> {
    return this.link.runWrite(data.length, startMs, async (transport, reservation) => {
      const armedFor = this.link.arm.armedFor();
      if (armedFor !== null) {
        throw new BridgeError(
          "SYSRQ_ARMED",
          `a BREAK ${Math.round(armedFor)} ms ago left SysRq armed: the first byte would run as a SysRq key. ` +
            `Send the key with POST /ports/${this.id}/sysrq, or write again in ${Math.ceil((SYSRQ_ARM_WINDOW_MS - armedFor) / 1000)} s`,
        );
      }
      await this.link.writeBytes(transport, data, "write", reservation);
      this.deps.log.info({ bytes: data.length }, "console write");
      return { bytes: data.length };
    });
  }

  /** Every byte the target prints, live, with its capture offset (viewers, re-exports). */
  onOutput(listener: (chunk: Buffer, offset: number) => void): () => void {
    const detach = this.link.onOutput(listener);
    this.watching += 1;
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      this.watching -= 1;
      detach();
    };
  }

  /**
   * The raw output for the daemon's own short reads (a probe waiting for a prompt, which is not a
   * line yet): not a console client, so not counted in `viewers`.
   */
  tapOutput(listener: (chunk: Buffer, offset: number) => void): () => void {
    return this.link.onOutput(listener);
  }

  /** The console's lines, as SysRq and NMI verdicts read them. */
  consoleFeed(): ConsoleFeed {
    return this.link.feed();
  }

  get clock(): Clock {
    return this.deps.clock;
  }

  get log(): Logger {
    return this.deps.log;
  }

  /** The port's QMP connection (qmp block), for status; null without one. */
  get qmp(): QmpClient | null {
    return this.deps.qmp;
  }

  /** One power action at a time per port: POWER_BUSY while one runs; call the result when done. */
  beginPower(): () => void {
    if (this.powering) {
      throw new BridgeError(
        "POWER_BUSY",
        `port ${this.id} has a power action in progress; wait for its answer, then ask again`,
      );
    }
    this.powering = true;
    return () => {
      this.powering = false;
    };
  }

  /** Console clients watching the output: WebSocket viewers and telnet / RFC 2217 clients alike. */
  get viewers(): number {
    return this.watching;
  }

  private nmiCapability(): NmiCapability {
    const method = nmiMethodFor(this.config, this.deps.qmp, this.deps.redfish);
    if (!method) return { available: false, reason: "no nmi configured for this port" };
    const support = this.nmiSupport;
    if (!support) return { available: true, method: method.method, reason: method.where };
    support.refresh();
    const { kind, reason } = support.state;
    return { available: kind !== "unsupported", method: method.method, reason: `${method.where}: ${reason}` };
  }

  private powerCapability(): PowerCapability {
    const channel = this.powerChannel;
    if (!channel) return { available: false, reason: "no power configured for this port" };
    return { available: true, method: channel.kind, actions: [...channel.actions], reason: channel.where };
  }

  /** Injects an NMI and reads the kernel's verdict from this port's console. */
  async nmi(timeoutMs: number): Promise<NmiResult> {
    const method = nmiMethodFor(this.config, this.deps.qmp, this.deps.redfish);
    if (!method) {
      throw new BridgeError(
        "NMI_UNSUPPORTED",
        `port ${this.id} has no NMI method: add \`qmp: { path: /run/${this.id}-qmp.sock }\` and \`nmi: { kind: qmp }\` ` +
          "to the port (QEMU: -qmp unix:PATH,server=on,wait=off), or nmi: { kind: redfish, url, username, passwordEnv } " +
          "or nmi: { kind: ipmi, host, username, passwordEnv } for a BMC",
      );
    }
    const support = this.nmiSupport;
    await support?.probe();
    if (support?.state.kind === "unsupported")
      throw new BridgeError("NMI_UNSUPPORTED", `port ${this.id}: ${support.state.reason}`);
    return this.link.runOnWire("open", async () => {
      const inject = async (): Promise<void> => {
        this.deps.capture.noteAction({ kind: "nmi" });
        try {
          await method.inject();
        } catch (err) {
          if (support && isNmiRefusal(err)) {
            throw new BridgeError(
              "NMI_UNSUPPORTED",
              `port ${this.id}: ${support.refused(err.message).reason}`,
              {
                cause: err,
              },
            );
          }
          if ((err instanceof RedfishError || err instanceof IpmiError) && err.kind === "unsupported") {
            throw new BridgeError("NMI_UNSUPPORTED", err.message, { cause: err });
          }
          throw new BridgeError("NMI_FAILED", `${method.method} NMI failed: ${(err as Error).message}`, {
            cause: err,
          });
        }
      };
      const result = await runNmi(inject, timeoutMs, { feed: this.link.feed(), clock: this.deps.clock });
      this.deps.log.info({ verdict: result.verdict, latencyMs: result.latencyMs }, "nmi");
      return result;
    });
  }

  /** Waits for queued work (bounded by the caller), then closes the link and the capture. */
  async stop(): Promise<void> {
    this.deps.qmp?.close();
    await this.link.stop();
    await this.deps.capture.close();
  }

  idle(): Promise<void> {
    return this.link.idle();
  }
}
