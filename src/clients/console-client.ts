/**
 * What a console client is, whichever door it came through (a WebSocket in api/console/, a telnet or
 * RFC 2217 connection in export/): who it acts as and the SysRq keys that role may send (the key
 * guard), its writer lease (released when it goes), its input and BREAKs in one bounded queue, its
 * keys' verdicts, and its audit records. The door keeps its protocol: what a frame or a telnet command
 * means, how a refusal is said, when a client is cut off (limits.ts).
 *
 *   door ─> push(op) ─> ConsoleInputQueue ─> door's run(op) ─> port.console (caller: this client)
 *   door closes ─> end() ─> detach, [queued ops run], lease released, keys' records written
 */
import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/audit-log.js";
import type { Role } from "../config/types.js";
import { BridgeError } from "../errors.js";
import type { ConsoleCaller } from "../ports/console-access.js";
import { ConsoleKeyVerdicts } from "../ports/console-key-verdicts.js";
import type { Lease } from "../ports/lease.js";
import type { Port } from "../ports/port.js";
import { ConsoleInputQueue, type ConsoleOp } from "./input-queue.js";
import { MAX_PENDING_INPUT_BYTES } from "./limits.js";
import { roleAtLeast, roleForKey } from "./roles.js";

/** Who a client acts as: a token's name and role (a WebSocket's principal, a listener's actsAs). */
export interface ClientIdentity {
  readonly name: string;
  readonly role: Role;
}

export interface ConsoleClientDeps {
  readonly port: Pick<Port, "id" | "lease">;
  readonly audit: Pick<AuditLog, "append" | "unavailable">;
  readonly log: { error(detail: object, message: string): void };
  /** Where the client connects from, as the audit records it. */
  readonly address: string;
  /** Written into every audit record after its status (an export client's `via`). */
  readonly auditFields?: Readonly<Record<string, unknown>>;
  /** Runs one queued op when its turn comes; never throws (the door says what went wrong). */
  readonly run: (op: ConsoleOp) => Promise<void>;
  /** Stops reading the client's socket while too much of its input waits (true), then resumes. */
  readonly pressure: (paused: boolean) => void;
}

export class ConsoleClient {
  /** Unique per connection: who owns an arm, and the audit records' requestId. */
  readonly id = randomUUID();
  /** The client as the port sees it (console-break-guard.ts asks it). */
  readonly caller: ConsoleCaller;
  /** Its SysRq keys, each audited once the kernel's verdict settles. */
  readonly keys: ConsoleKeyVerdicts;
  private leaseId: string | undefined;
  private readonly queue: ConsoleInputQueue;
  private detach: (() => void)[] = [];

  /** `who` is null until the client has authenticated (a WebSocket's first frame). */
  constructor(
    private readonly deps: ConsoleClientDeps,
    private who: ClientIdentity | null,
  ) {
    const nameNow = (): string => this.who?.name ?? "";
    this.caller = {
      id: this.id,
      get name() {
        return nameNow();
      },
      checkKey: (key) => this.checkKey(key),
      holdsLease: () => this.holdsLease(),
      auditUnavailable: () => deps.audit.unavailable(),
    };
    this.keys = new ConsoleKeyVerdicts((detail) => this.audit("console-sysrq", detail));
    this.queue = new ConsoleInputQueue(deps.run, deps.pressure, MAX_PENDING_INPUT_BYTES);
  }

  identify(who: ClientIdentity): void {
    this.who = who;
  }

  /** True when the client's role lets it type, send BREAKs and take the lease. */
  get mayOperate(): boolean {
    return this.who !== null && roleAtLeast(this.who.role, "operate");
  }

  /** The key guard: a destructive key (b c o e i k f) needs admin, any other key operate. */
  checkKey(key: string): void {
    const needed = roleForKey(key);
    if (this.who === null || !roleAtLeast(this.who.role, needed)) {
      throw new BridgeError("FORBIDDEN", `SysRq key ${key} needs the ${needed} role; the arm was cancelled`);
    }
  }

  holdsLease(): boolean {
    return this.deps.port.lease.holds(this.leaseId);
  }

  /** Takes the port's writer lease (from its holder with `takeover`); the door audits it. */
  takeLease(via: Lease["via"], takeover = false): { readonly displaced: Lease | null } {
    const { lease, displaced } = this.deps.port.lease.take({
      holder: this.who?.name ?? "",
      via,
      ...(takeover ? { takeover: true } : {}),
    });
    this.leaseId = lease.leaseId;
    return { displaced };
  }

  /** Gives the lease back; false when this client did not hold it (any more). */
  releaseLease(): boolean {
    const released = this.leaseId !== undefined && this.deps.port.lease.release(this.leaseId);
    this.leaseId = undefined;
    return released;
  }

  /** Queues input or a BREAK after the client's earlier ones (input waiting is joined into one op). */
  push(op: ConsoleOp): void {
    this.queue.push(op);
  }

  /** True while an op of this client waits or runs. */
  get busy(): boolean {
    return this.queue.busy;
  }

  /** Undone when the client goes: a subscription to the port's output, its lease, a hub. */
  untilEnd(undo: () => void): void {
    this.detach.push(undo);
  }

  /** Appends a record as this client (who, from where, on which port); a failed write is logged. */
  async audit(action: string, detail: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.who === null) return; // not authenticated: nothing of it is recorded
    try {
      await this.deps.audit.append({
        requestId: this.id,
        token: this.who.name,
        client: this.deps.address,
        action,
        port: this.deps.port.id,
        status: 200,
        ...this.deps.auditFields,
        ...detail,
      });
    } catch (err) {
      this.deps.log.error({ err, action }, "audit append failed");
    }
  }

  /**
   * The client went: its subscriptions end, its lease is released (with `finishQueued`, only once
   * what it queued has run, under that lease), and its keys' records are written.
   */
  async end(options: { readonly finishQueued: boolean }): Promise<void> {
    for (const undo of this.detach.splice(0)) undo();
    if (options.finishQueued) await this.queue.idle();
    this.releaseLease();
    await this.keys.settled();
  }
}
