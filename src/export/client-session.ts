/**
 * One telnet or RFC 2217 client of a re-exported port, acting as the listener's token. An `rw` client
 * with the operate role takes the writer lease at connect when it is free, else it only reads. Output
 * goes out as the target printed it (0xFF doubled); input and BREAKs run in arrival order through the
 * port's queue under the door rules of ports/console-break-guard.ts: a BREAK needs the lease, the
 * byte after it is a SysRq key checked against the role (audited with the kernel's verdict), nothing
 * after the key goes out without the lease, and nothing at all while the audit cannot be written.
 * An RFC 2217 BREAK-ON ... BREAK-OFF is held on a tty for as long as the client says (at most
 * MAX_BREAK_HOLD_MS, and never past its disconnect); input sent meanwhile waits for the BREAK to end.
 *
 *   target ─> port.onOutput ─> escapeData ─> socket
 *   socket ─> (server decodes) ─> input()/sendBreak()/breakOn() ─> ConsoleClient's queue (clients/)
 *                                   ─> port.console.input/breakWithin/heldBreak
 *             breakOff() ─> releases the held BREAK;  lineControl() ─> port.console.applyLine (or not) ─> audit
 */
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit-log.js";
import { ConsoleClient } from "../clients/console-client.js";
import type { ConsoleOp } from "../clients/input-queue.js";
import { overUnread, type ClientLimit } from "../clients/limits.js";
import type { ExportListenerConfig } from "../config/types.js";
import { BridgeError } from "../errors.js";
import type { LineChangeOutcome } from "../ports/console-access.js";
import { inputRefusal } from "../ports/console-break-guard.js";
import type { Port } from "../ports/port.js";
import { escapeData } from "../telnet/codec.js";
import type { LineChange } from "../transports/transport.js";

export type ExportVia = "telnet" | "rfc2217" | "ssh";

/** What a session writes to and reads from: a net.Socket (telnet, RFC 2217) or an SSH channel. */
export type SessionStream = Pick<
  Socket,
  "write" | "destroy" | "destroyed" | "pause" | "resume" | "writableLength"
>;

/** A BREAK that cannot start within this long (the port's queue is busy) is refused. */
export const BREAK_START_TIMEOUT_MS = 2000;
/** Refused BREAKs past this many per connection are counted (in export-disconnect), not audited each. */
const MAX_AUDITED_REFUSALS = 10;

/** A BREAK waiting in the client's queue; `release` set for one the client ends itself (BREAK-OFF). */
interface PendingBreak {
  readonly done: (started: boolean) => void;
  readonly held?: HeldState;
}

interface HeldState {
  readonly release: AbortController;
  /** Resolves once the BREAK has ended, or will never start. */
  readonly ended: Promise<void>;
  readonly end: () => void;
}

export interface SessionDeps {
  readonly port: Port;
  readonly listener: ExportListenerConfig;
  readonly via: ExportVia;
  readonly audit: AuditLog;
  readonly log: Logger;
}

export class ExportSession {
  private bytesIn = 0;
  private ended = false;
  private refusedInput = 0;
  private cut = false;
  private readonly breakWaiters: PendingBreak[] = [];
  /** The client's BREAK-ON not yet followed by BREAK-OFF. */
  private held: HeldState | null = null;
  /** Key guard, lease, input queue and audit, as every console door has them (clients/). */
  private readonly client: ConsoleClient;
  private refusedBreaks = 0;
  /** Set by a server whose clients read text (telnet): says why a BREAK or input was refused. */
  notice: ((text: string) => void) | null = null;
  private noticedAudit = false;

  constructor(
    private readonly socket: SessionStream,
    private readonly deps: SessionDeps,
    private readonly address: string,
  ) {
    const { port, audit, log, via } = deps;
    this.client = new ConsoleClient(
      {
        port,
        audit,
        log,
        address,
        auditFields: { via },
        run: (op) => this.runOp(op),
        pressure: (paused) => (paused ? socket.pause() : socket.resume()),
      },
      deps.listener.actsAs,
    );
  }

  get id(): string {
    return this.client.id;
  }

  /** True when this client may type: an rw listener whose token has the operate role. */
  get mayWrite(): boolean {
    return this.deps.listener.mode === "rw" && this.client.mayOperate;
  }

  get writer(): boolean {
    return this.client.holdsLease();
  }

  /**
   * Takes the lease if it may, greets, and subscribes to the output before awaiting the audit
   * records: a byte the target prints meanwhile reaches this client too, after its greeting.
   */
  async start(greeting: (() => string) | null): Promise<void> {
    const { port, via } = this.deps;
    // An unauditable lease-take is not made: the client only reads (its input would be refused anyway).
    const takesLease = this.mayWrite && port.lease.current === null && this.deps.audit.unavailable() === null;
    if (takesLease) this.client.takeLease(via);
    if (greeting) this.socket.write(greeting());
    this.client.untilEnd(port.onOutput((chunk) => this.output(chunk)));
    if (takesLease) await this.client.audit("lease-take", {});
    await this.client.audit("export-connect", { mode: this.deps.listener.mode, writer: this.writer });
  }

  /** Who holds the lease, for a telnet greeting. */
  leaseHolder(): string | null {
    const lease = this.deps.port.lease.current;
    return lease === null ? null : `${lease.holder} (${lease.via})`;
  }

  private output(chunk: Buffer): void {
    if (this.socket.destroyed || overUnread(this.socket, this.cutOff)) return;
    // An SSH channel carries the target's bytes as they are; telnet doubles 0xFF.
    this.socket.write(this.deps.via === "ssh" ? chunk : escapeData(chunk));
  }

  /** Drops a client that passed one of its bounds (clients/limits.ts): logged and audited once. */
  readonly cutOff = (limit: ClientLimit, detail: Readonly<Record<string, number>>): void => {
    if (this.cut) return;
    this.cut = true;
    this.socket.destroy();
    this.deps.log.warn({ client: this.address, limit, ...detail }, "export client passed a bound; cut off");
    void this.client.audit("export-cut-off", { status: 400, code: "PEER_LIMIT", limit, ...detail });
  };

  /** Bytes typed by the client (already decoded from telnet). */
  input(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (!this.mayWrite) {
      this.refusedInput += bytes.length;
      return;
    }
    // Checked again when its turn comes; refused here, it never takes a place in the port's queue.
    const refused = inputRefusal(this.client.caller, this.deps.port.console.armedBy(this.id), bytes.length);
    if (refused && !this.client.busy) return this.inputRefused(refused, bytes.length);
    this.bytesIn += bytes.length;
    this.client.push({ kind: "input", bytes });
  }

  /** A BREAK from the client (IAC BRK), after its earlier input; resolves true once it is on the wire. */
  sendBreak(): Promise<boolean> {
    if (!this.mayWrite) return this.refuseBreak();
    return new Promise((resolve) => this.queueBreak({ done: resolve }));
  }

  /** A BREAK from a read-only client: never queued, audited (up to a count), said to a telnet client. */
  private async refuseBreak(): Promise<boolean> {
    const reason =
      this.deps.listener.mode === "ro"
        ? "this listener is mode: ro"
        : `token ${this.deps.listener.actsAs.name} has the ${this.deps.listener.actsAs.role} role`;
    await this.breakFailed(new BridgeError("FORBIDDEN", `a BREAK needs write access: ${reason}`));
    return false;
  }

  /**
   * RFC 2217 BREAK-ON, after the client's earlier input: resolves true once the line is in BREAK
   * (held until breakOff() on a tty; sent once elsewhere), false when it could not start.
   */
  breakOn(): Promise<boolean> {
    if (!this.mayWrite) return this.refuseBreak();
    if (this.held) return Promise.resolve(true); // already on: BREAK-ON twice is one BREAK
    let end: () => void = () => undefined;
    const ended = new Promise<void>((resolve) => (end = resolve));
    const held: HeldState = { release: new AbortController(), ended, end };
    this.held = held;
    return new Promise((resolve) => this.queueBreak({ done: resolve, held }));
  }

  /** RFC 2217 BREAK-OFF: ends the client's held BREAK; resolves once the line is out of it. */
  async breakOff(): Promise<void> {
    const held = this.held;
    if (!held) return;
    held.release.abort();
    await held.ended;
  }

  private queueBreak(pending: PendingBreak): void {
    this.breakWaiters.push(pending);
    this.client.push({ kind: "break" });
  }

  /**
   * An RFC 2217 line setting: applied to the device only where the port allows line control and this
   * client holds the writer lease; the audit records which, and why not.
   */
  async lineControl(change: LineChange, value: number): Promise<void> {
    const { port } = this.deps;
    const outcome: LineChangeOutcome =
      port.config.allowLineControl && !this.writer
        ? { applied: false, reason: "this client does not hold the writer lease" }
        : await port.console.applyLine(change, BREAK_START_TIMEOUT_MS);
    await this.client.audit("line-control", { setting: change.setting, value, ...outcome });
  }

  private async runOp(op: ConsoleOp): Promise<void> {
    const { port } = this.deps;
    if (op.kind === "break") {
      const pending = this.breakWaiters.shift();
      if (!pending) return;
      // A client that has left gets no BREAK: nothing would answer or follow it; nor does a BREAK-OFF
      // that came before its BREAK-ON could start.
      if (this.ended || pending.held?.release.signal.aborted) pending.done(false);
      else if (pending.held) await this.runHeldBreak(pending.held, pending.done);
      else pending.done(await this.runBreak());
      if (pending.held) {
        if (this.held === pending.held) this.held = null;
        pending.held.end();
      }
      return;
    }
    try {
      this.client.keys.track(await port.console.input(op.bytes, this.client.caller));
    } catch (err) {
      if (await this.client.keys.refused(err))
        return this.notice?.(`SysRq key refused: ${(err as Error).message}`);
      this.inputRefused(err, op.bytes.length);
    }
  }

  /** Counts refused input; a lapsed lease or an unwritable audit is said to a telnet client. */
  private inputRefused(err: unknown, bytes: number): void {
    const code = err instanceof BridgeError ? err.code : null;
    if (code === "LEASE_REQUIRED" || code === "AUDIT_UNAVAILABLE") {
      this.refusedInput += bytes;
      if (code === "AUDIT_UNAVAILABLE" && !this.noticedAudit) {
        this.noticedAudit = true; // once per connection: the client keeps reading the console
        this.notice?.(`input is not forwarded: ${(err as BridgeError).message}`);
      }
      return;
    }
    this.failed(err, `${bytes} bytes of console input were not sent`);
  }

  /** One BREAK, if the port's queue frees within 2 s; a refused BREAK is never sent later. */
  private async runBreak(): Promise<boolean> {
    try {
      if (!(await this.deps.port.console.breakWithin(this.client.caller, BREAK_START_TIMEOUT_MS))) {
        await this.client.audit("console-break", { status: 503, code: "QUEUE_BUSY" });
        return false;
      }
      await this.client.audit("console-break", {});
      return true;
    } catch (err) {
      await this.breakFailed(err);
      return false;
    }
  }

  /** A BREAK the client ends: `started` hears when the line is in BREAK; returns once it has ended. */
  private async runHeldBreak(held: HeldState, started: (ok: boolean) => void): Promise<void> {
    let answered = false;
    const answer = (ok: boolean): void => {
      if (answered) return;
      answered = true;
      started(ok);
    };
    try {
      const result = await this.deps.port.console.heldBreak(this.client.caller, {
        release: held.release.signal,
        startMs: BREAK_START_TIMEOUT_MS,
        started: () => answer(true),
      });
      if (result === null) {
        answer(false);
        await this.client.audit("console-break", { status: 503, code: "QUEUE_BUSY" });
        return;
      }
      const { held: wasHeld, heldMs, capped } = result;
      await this.client.audit("console-break", { held: wasHeld, heldMs: Math.round(heldMs), capped });
    } catch (err) {
      answer(false);
      await this.breakFailed(err);
    }
  }

  private async breakFailed(err: unknown): Promise<void> {
    this.failed(err, "BREAK failed");
    const code = err instanceof BridgeError ? err.code : "INTERNAL";
    if (code === "LEASE_REQUIRED" || code === "AUDIT_UNAVAILABLE" || code === "FORBIDDEN") {
      this.notice?.(`BREAK refused: ${(err as BridgeError).message}`);
      this.refusedBreaks += 1;
      if (this.refusedBreaks > MAX_AUDITED_REFUSALS) return; // a flood is counted in export-disconnect
    }
    await this.client.audit("console-break", {
      status: err instanceof BridgeError ? err.statusCode : 500,
      code,
    });
  }

  private failed(err: unknown, what: string): void {
    if (err instanceof BridgeError) this.deps.log.info({ client: this.address, code: err.code }, err.message);
    else this.deps.log.error({ err, client: this.address }, what);
  }

  /** The socket closed: release the lease, and record what the client typed (a count, never bytes). */
  async closed(): Promise<void> {
    this.ended = true;
    // A BREAK the client held is released now: nobody is left to end it.
    this.held?.release.abort();
    // What the client typed before it left still goes out, under its lease.
    await this.client.end({ finishQueued: true });
    await this.client.audit("export-disconnect", {
      bytes: this.bytesIn,
      refusedBytes: this.refusedInput,
      ...(this.refusedBreaks > 0 ? { refusedBreaks: this.refusedBreaks } : {}),
    });
  }
}
