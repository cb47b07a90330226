/**
 * The device side of a port: keeps its one transport to the target connected (connect at start,
 * reconnect by itself, expose the state). What connects to the daemon is always a client, never this.
 *
 *   connecting ──open ok──> open ──peer gone──> connecting (retry) ...
 *        └──open failed (ENOENT, EACCES, ECONNREFUSED): reason shown, retry after backoff
 *        └──device held by another program (UUCP lock): locked, retried the same way
 *   stop() ──> closed
 *
 * Telnet peers are retried every 200 ms: QEMU discards guest output while no client is connected, so
 * a slow retry loses a restarted guest's boot log. ttys back off (reopening a tty can reset a board).
 * A program (exec) backs off too, and its backoff restarts only after it ran STABLE_MS: a child that
 * starts and dies at once is not restarted in a tight loop. So is ipmitool for an SOL console (a BMC
 * whose single SOL session another holds makes it exit at once).
 */
import type { Logger } from "pino";
import type { TransportConfig } from "../config/types.js";
import type { TransportFactory } from "../transports/create.js";
import { TransportOpenError, type Transport } from "../transports/transport.js";
import { DeviceLockedError, type DeviceHolder } from "../transports/uucp-lock.js";

/** locked: the device is held by another program (its UUCP lock file names a live pid). */
export type PortState = "connecting" | "open" | "closed" | "locked";

export interface DeviceEvents {
  data(chunk: Buffer): void;
  opened(transport: Transport): void;
  /** The link went away while open (not called for stop()). */
  lost(reason: string): void;
  /** The state changed (pushed, so a watcher needs no sampling). */
  state?(state: PortState): void;
}

/** A program that ran this long before it exited starts the backoff afresh. */
export const STABLE_MS = 5000;

/**
 * `stableMs`: the backoff restarts only after the link stayed open this long (a program: it "opens"
 * as soon as it is spawned); without it, at every open.
 */
export function retryDelays(kind: TransportConfig["kind"]): {
  first: number;
  max: number;
  stableMs?: number;
} {
  switch (kind) {
    case "exec":
    case "ipmi-sol": // the child exits on a dropped session: 250 ms to the first retry, then back off
      return { first: 250, max: 10_000, stableMs: STABLE_MS };
    case "telnet":
    case "rfc2217":
      return { first: 200, max: 200 };
    case "tty":
      return { first: 500, max: 10_000 };
  }
}

export class DeviceConnection {
  private stateValue: PortState = "connecting";
  private reasonValue: string | undefined = "not connected yet";
  private holderValue: DeviceHolder | undefined;
  private transport: Transport | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private delay: number;
  private stopped = false;
  private opensValue = 0;
  private attempt: Promise<void> | null = null;
  private openedAt = 0;

  constructor(
    private readonly config: TransportConfig,
    private readonly createTransport: TransportFactory,
    private readonly events: DeviceEvents,
    private readonly log: Logger,
  ) {
    this.delay = retryDelays(config.kind).first;
  }

  /** How many times the link has opened (reconnects = opens - 1). */
  get opens(): number {
    return this.opensValue;
  }

  get state(): PortState {
    return this.stateValue;
  }

  get reason(): string | undefined {
    return this.reasonValue;
  }

  /** While `locked`: the other program that holds the device. */
  get holder(): DeviceHolder | undefined {
    return this.stateValue === "locked" ? this.holderValue : undefined;
  }

  /** The open transport, or null while connecting or closed. */
  get current(): Transport | null {
    return this.stateValue === "open" ? this.transport : null;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.stopped) return;
    const transport = this.createTransport(this.config);
    this.attempt = transport
      .open({
        data: (chunk) => this.events.data(chunk),
        closed: (info) => this.onClosed(transport, info.disconnected, info.error),
      })
      .then(
        () => {
          if (this.stopped) return void transport.close();
          this.transport = transport;
          this.opensValue += 1;
          this.setState("open");
          this.reasonValue = undefined;
          this.openedAt = Date.now();
          const delays = retryDelays(this.config.kind);
          if (delays.stableMs === undefined) this.delay = delays.first;
          this.log.info({ target: transport.target }, "port open");
          this.events.opened(transport);
        },
        (err: unknown) => {
          const reason = err instanceof Error ? err.message : String(err);
          if (reason !== this.reasonValue) {
            const code = err instanceof TransportOpenError ? err.code : undefined;
            this.log.warn({ code, reason }, "port not available, retrying");
          }
          this.reasonValue = reason;
          this.holderValue = err instanceof DeviceLockedError ? err.holder : undefined;
          this.setState(this.holderValue ? "locked" : "connecting");
          this.scheduleRetry();
        },
      );
  }

  private setState(state: PortState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.events.state?.(state);
  }

  private onClosed(transport: Transport, disconnected: boolean, error: Error | undefined): void {
    if (transport !== this.transport) return;
    this.transport = null;
    if (this.stopped) return;
    const reason = disconnected ? `disconnected${error ? `: ${error.message}` : ""}` : "closed";
    const delays = retryDelays(this.config.kind);
    if (delays.stableMs !== undefined && Date.now() - this.openedAt >= delays.stableMs)
      this.delay = delays.first;
    this.setState("connecting");
    this.reasonValue = reason;
    this.log.warn({ reason }, "port lost, reconnecting");
    this.events.lost(reason);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const { max } = retryDelays(this.config.kind);
    this.retryTimer = setTimeout(() => this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, max);
  }

  /** Drops the current link (after a wire deadline passed) and reconnects. */
  async reset(reason: string): Promise<void> {
    const transport = this.transport;
    if (!transport) return;
    this.log.warn({ reason }, "resetting port");
    this.transport = null;
    this.setState("connecting");
    this.reasonValue = reason;
    this.events.lost(reason);
    await transport.close().catch(() => undefined);
    this.scheduleRetry();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    await this.attempt?.catch(() => undefined);
    const transport = this.transport;
    this.transport = null;
    this.setState("closed");
    this.reasonValue = "stopped";
    await transport?.close();
  }
}
