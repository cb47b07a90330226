/** Who is calling: a configured token (by name, never its secret), or everyone when auth is off. */
import type { Role } from "../../config/types.js";

export interface Principal {
  readonly name: string;
  readonly role: Role;
  /** The ports this caller may see and act on; null for all. */
  readonly ports: ReadonlySet<string> | null;
}

/** With no tokens configured the daemon is open (it then listens on loopback only). */
export const OPEN_ACCESS: Principal = { name: "anonymous", role: "admin", ports: null };

export function mayUsePort(principal: Principal, portId: string): boolean {
  return principal.ports === null || principal.ports.has(portId);
}
