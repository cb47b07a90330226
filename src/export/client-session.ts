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
 *   socket ─> (server decodes) ─> input()/sendBreak()/breakOn() ─> ConsoleInputQueue
 *                                   ─> port.console.input/breakWithin/heldBreak
 *             breakOff() ─> releases the held BREAK;  lineControl() ─> port.console.applyLine (or not) ─> audit
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import type { AuditLog } from "../audit/audit-log.js";
import { ConsoleInputQueue, type ConsoleOp } from "../clients/input-queue.js";
import { roleAtLeast, roleForKey } from "../clients/roles.js";
import type { ExportListenerConfig } from "../config/types.js";
import { BridgeError } from "../errors.js";
import type { ConsoleCaller, LineChangeOutcome } from "../ports/console-access.js";
import { inputRefusal } from "../ports/console-break-guard.js";
import { ConsoleKeyVerdicts } from "../ports/console-key-verdicts.js";
import type { Port } from "../ports/port.js";
import { escapeData } from "../transports/telnet-codec.js";
import type { LineChange } from "../transports/transport.js";
import { MAX_PENDING_INPUT_BYTES, overUnread, type ClientLimit } from "../clients/limits.js";

export type ExportVia = "telnet" | "rfc2217";

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
  readonly id = randomUUID();
  private leaseId: string | undefined;
  private bytesIn = 0;
  private ended = false;
  /** Ops queued and not yet run; the lease is kept until they have. */
  private queued = 0;
  private drained: (() => void) | null = null;
  private refusedInput = 0;
  private cut = false;
  private detachOutput: (() => void) | null = null;
  private readonly breakWaiters: PendingBreak[] = [];
  /** The client's BREAK-ON not yet followed by BREAK-OFF. */
  private held: HeldState | null = null;
  private readonly caller: ConsoleCaller;
  private readonly inputQueue: ConsoleInputQueue;
  private readonly keys: ConsoleKeyVerdicts;
  private refusedBreaks = 0;
  /** Set by a server whose clients read text (telnet): says why a BREAK or input was refused. */
  notice: ((text: string) => void) | null = null;
  private noticedAudit = false;

  constructor(
    private readonly socket: Socket,
    private readonly deps: SessionDeps,
    private readonly client: string,
  ) {
    const actsAs = deps.listener.actsAs;
    this.caller = {
      id: this.id,
      name: actsAs.name,
      checkKey: (key) => this.checkKey(key),
      holdsLease: () => this.writer,
      auditUnavailable: () => deps.audit.unavailable(),
    };
    this.keys = new ConsoleKeyVerdicts((detail) => this.audit("console-sysrq", detail));
    this.inputQueue = new ConsoleInputQueue(
      (op) => this.runOp(op),
      (paused) => (paused ? socket.pause() : socket.resume()),
      MAX_PENDING_INPUT_BYTES,
    );
  }

  /** True when this client may type: an rw listener whose token has the operate role. */
  get mayWrite(): boolean {
    return this.deps.listener.mode === "rw" && roleAtLeast(this.deps.listener.actsAs.role, "operate");
  }

  get writer(): boolean {
    return this.deps.port.lease.holds(this.leaseId);
  }

  /** Takes the lease if it is free and this client may write, then relays the target's output. */
  async start(): Promise<void> {
    const { port, via } = this.deps;
    // An unauditable lease-take is not made: the client only reads (its input would be refused anyway).
    if (this.mayWrite && port.lease.current === null && this.deps.audit.unavailable() === null) {
      this.leaseId = port.lease.take({ holder: this.deps.listener.actsAs.name, via }).lease.leaseId;
      await this.audit("lease-take", {});
    }
    await this.audit("export-connect", { mode: this.deps.listener.mode, writer: this.writer });
    this.detachOutput = port.onOutput((chunk) => this.output(chunk));
  }

  /** Who holds the lease, for a telnet greeting. */
  leaseHolder(): string | null {
    const lease = this.deps.port.lease.current;
    return lease === null ? null : `${lease.holder} (${lease.via})`;
  }

  private output(chunk: Buffer): void {
    if (this.socket.destroyed || overUnread(this.socket, this.cutOff)) return;
    this.socket.write(escapeData(chunk));
  }

  /** Drops a client that passed one of its bounds (clients/limits.ts): logged and audited once. */
  readonly cutOff = (limit: ClientLimit, detail: Readonly<Record<string, number>>): void => {
    if (this.cut) return;
    this.cut = true;
    this.socket.destroy();
    this.deps.log.warn({ client: this.client, limit, ...detail }, "export client passed a bound; cut off");
    void this.audit("export-cut-off", { status: 400, code: "PEER_LIMIT", limit, ...detail });
  };

  /** Bytes typed by the client (already decoded from telnet). */
  input(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (!this.mayWrite) {
      this.refusedInput += bytes.length;
      return;
    }
    // Checked again when its turn comes; refused here, it never takes a place in the port's queue.
    const refused = inputRefusal(this.caller, this.deps.port.console.armedBy(this.id), bytes.length);
    if (refused && this.queued === 0) return this.inputRefused(refused, bytes.length);
    this.bytesIn += bytes.length;
    // Input joined to input still waiting runs as one op: counted once, or closed() waits forever.
    if (this.inputQueue.push({ kind: "input", bytes })) this.queued += 1;
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
    this.queued += 1;
    this.inputQueue.push({ kind: "break" });
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
    await this.audit("line-control", { setting: change.setting, value, ...outcome });
  }

  private async runOp(op: ConsoleOp): Promise<void> {
    try {
      await this.runQueued(op);
    } finally {
      this.queued -= 1;
      if (this.queued === 0) this.drained?.();
    }
  }

  private async runQueued(op: ConsoleOp): Promise<void> {
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
      this.keys.track(await port.console.input(op.bytes, this.caller));
    } catch (err) {
      if (await this.keys.refused(err)) return this.notice?.(`SysRq key refused: ${(err as Error).message}`);
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
      if (!(await this.deps.port.console.breakWithin(this.caller, BREAK_START_TIMEOUT_MS))) {
        await this.audit("console-break", { status: 503, code: "QUEUE_BUSY" });
        return false;
      }
      await this.audit("console-break", {});
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
      const result = await this.deps.port.console.heldBreak(this.caller, {
        release: held.release.signal,
        startMs: BREAK_START_TIMEOUT_MS,
        started: () => answer(true),
      });
      if (result === null) {
        answer(false);
        await this.audit("console-break", { status: 503, code: "QUEUE_BUSY" });
        return;
      }
      const { held: wasHeld, heldMs, capped } = result;
      await this.audit("console-break", { held: wasHeld, heldMs: Math.round(heldMs), capped });
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
    await this.audit("console-break", { status: err instanceof BridgeError ? err.statusCode : 500, code });
  }

  private checkKey(key: string): void {
    const role = this.deps.listener.actsAs.role;
    const needed = roleForKey(key);
    if (!roleAtLeast(role, needed)) {
      throw new BridgeError("FORBIDDEN", `SysRq key ${key} needs the ${needed} role; the arm was cancelled`);
    }
  }

  private failed(err: unknown, what: string): void {
    if (err instanceof BridgeError) this.deps.log.info({ client: this.client, code: err.code }, err.message);
    else this.deps.log.error({ err, client: this.client }, what);
  }

  async audit(action: string, detail: Record<string, unknown>): Promise<void> {
    try {
      await this.deps.audit.append({
        requestId: this.id,
        token: this.deps.listener.actsAs.name,
        client: this.client,
        action,
        port: this.deps.port.id,
        status: 200,
        via: this.deps.via,
        ...detail,
      });
    } catch (err) {
      this.deps.log.error({ err }, "audit append failed");
    }
  }

  /** The socket closed: release the lease, and record what the client typed (a count, never bytes). */
  async closed(): Promise<void> {
    this.ended = true;
    this.detachOutput?.();
    this.detachOutput = null;
    // A BREAK the client held is released now: nobody is left to end it.
    this.held?.release.abort();
    // What the client typed before it left still goes out, under its lease.
    if (this.queued > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    if (this.leaseId !== undefined) this.deps.port.lease.release(this.leaseId);
    this.leaseId = undefined;
    await this.keys.settled();
    await this.audit("export-disconnect", {
      bytes: this.bytesIn,
      refusedBytes: this.refusedInput,
      ...(this.refusedBreaks > 0 ? { refusedBreaks: this.refusedBreaks } : {}),
    });
  }
}
