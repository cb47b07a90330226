/**
 * The rules every console door (WebSocket, telnet, RFC 2217, and any later interactive one) applies to
 * a client's input and BREAKs, checked when the op's turn comes in the port's queue (a lease lost
 * while the op waited counts):
 *   - nothing is forwarded while the audit cannot be written (reading goes on);
 *   - a BREAK needs the writer lease, as typing does;
 *   - the byte after the client's own BREAK is a SysRq key: it needs the role its action needs and the
 *     port's sysrqMask;
 *   - nothing after the key is forwarded without the lease.
 * HTTP POST /sysrq and /break are not doors: they need the role only (see the routes).
 */
import { BridgeError } from "../errors.js";
import { checkKeysSendable } from "../sysrq/guard.js";

/** A console client (WebSocket viewer, telnet or RFC 2217 client) as the port sees it. */
export interface ConsoleCaller {
  /** Unique per client: who owns an arm. */
  readonly id: string;
  readonly name: string;
  /** Throws when the caller may not send this SysRq key (its role). */
  readonly checkKey: (key: string) => void;
  /** True while this caller holds the port's writer lease. */
  readonly holdsLease: () => boolean;
  /** Null when the door can audit what it forwards; else why not (AuditHealth.unavailable). */
  readonly auditUnavailable: () => string | null;
}

/** Why a client's BREAK may not go out now; null when it may. */
export function breakRefusal(caller: ConsoleCaller): BridgeError | null {
  const audit = caller.auditUnavailable();
  if (audit !== null) return new BridgeError("AUDIT_UNAVAILABLE", `${audit}; the BREAK was not sent`);
  if (!caller.holdsLease()) {
    return new BridgeError(
      "LEASE_REQUIRED",
      "a BREAK needs the writer lease, as typing does; the BREAK was not sent",
    );
  }
  return null;
}

/** Why a client's input may not go out now (`armed`: its own BREAK armed the line); null when it may. */
export function inputRefusal(caller: ConsoleCaller, armed: boolean, bytes: number): BridgeError | null {
  const audit = caller.auditUnavailable();
  if (audit !== null) return new BridgeError("AUDIT_UNAVAILABLE", `${audit}; ${bytes} bytes were not sent`);
  if (!armed && !caller.holdsLease()) {
    return new BridgeError("LEASE_REQUIRED", `take the writer lease to type (${bytes} bytes dropped)`);
  }
  return null;
}

/** Throws unless the caller's role and the port's sysrqMask allow `key` after its BREAK. */
export function checkArmedKey(caller: ConsoleCaller, key: string, sysrqMask: number): void {
  caller.checkKey(key);
  checkKeysSendable(key, sysrqMask);
}

/** What may follow the SysRq key in the same input: all of it with the lease, nothing without. */
export function afterKey(caller: ConsoleCaller, rest: Buffer): Buffer {
  return caller.holdsLease() ? rest : rest.subarray(rest.length);
}
