/**
 * The writer lease of one port: many readers, one writer at a time. A lease is bound either to a
 * console client (a WebSocket viewer, a telnet or RFC 2217 client: released when it closes) or, for plain
 * HTTP, to a time to live. SysRq, BREAK and NMI requests never need it.
 */
import { randomUUID } from "node:crypto";
import { BridgeError } from "../errors.js";

export interface Lease {
  readonly leaseId: string;
  /** Who holds it: the token name (or "anonymous") and how it is connected. */
  readonly holder: string;
  readonly via: "http" | "websocket" | "telnet" | "rfc2217" | "ssh";
  /** Epoch ms; null for a lease bound to a console client. */
  readonly expiresAt: number | null;
}

export interface TakeOptions {
  readonly holder: string;
  readonly via: Lease["via"];
  /** For HTTP leases; client-bound leases last until released. */
  readonly ttlMs?: number;
  /** An admin taking the lease from its holder (the caller audits it). */
  readonly takeover?: boolean;
}

export class WriterLease {
  private lease: Lease | null = null;
  private readonly listeners = new Set<() => void>();
  private expiryTimer: NodeJS.Timeout | null = null;

  /** @param now wall-clock epoch ms (Date.now), replaceable in tests */
  constructor(
    private readonly portId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Called after every take, release and expiry (viewers show who holds the console). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The live lease, or null (an expired HTTP lease is gone). */
  get current(): Lease | null {
    if (this.lease?.expiresAt != null && this.lease.expiresAt <= this.now()) this.lease = null;
    return this.lease;
  }

  /** Takes the free lease; a held one only with takeover. Returns the new lease and whom it displaced. */
  take(options: TakeOptions): { lease: Lease; displaced: Lease | null } {
    const held = this.current;
    if (held && !options.takeover) throw leaseHeld(this.portId, held);
    this.lease = {
      leaseId: randomUUID(),
      holder: options.holder,
      via: options.via,
      expiresAt: options.ttlMs === undefined ? null : this.now() + options.ttlMs,
    };
    this.changed(options.ttlMs);
    return { lease: this.lease, displaced: held };
  }

  /** Releases the lease if `leaseId` holds it; false when it was not (or no longer) the holder. */
  release(leaseId: string): boolean {
    if (this.current?.leaseId !== leaseId) return false;
    this.lease = null;
    this.changed(undefined);
    return true;
  }

  /** Throws LEASE_HELD unless the lease is free or `leaseId` holds it. */
  check(leaseId: string | undefined): void {
    const held = this.current;
    if (held && held.leaseId !== leaseId) throw leaseHeld(this.portId, held);
  }

  private changed(expiresInMs: number | undefined): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer =
      expiresInMs === undefined ? null : setTimeout(() => this.changed(undefined), expiresInMs + 1).unref();
    // After the taker has stored its lease id: a listener may be the taker itself.
    queueMicrotask(() => {
      for (const listener of this.listeners) listener();
    });
  }

  holds(leaseId: string | undefined): boolean {
    return leaseId !== undefined && this.current?.leaseId === leaseId;
  }
}

function leaseHeld(portId: string, held: Lease): BridgeError {
  return new BridgeError(
    "LEASE_HELD",
    `port ${portId}'s console is being written by ${held.holder} (${held.via}); wait, or ask an admin to take over`,
    {
      details: {
        holder: held.holder,
        via: held.via,
        expiresAt: held.expiresAt === null ? null : new Date(held.expiresAt).toISOString(),
      },
    },
  );
}
