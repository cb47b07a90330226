/**
 * The console WebSocket's protocol. Binary frames carry raw console bytes both ways; text frames
 * carry JSON control messages. Close codes follow HTTP where one fits (4000 + status).
 */
import type { Lease } from "../../ports/lease.js";

export const CloseCode = {
  UNAUTHORIZED: 4401,
  FORBIDDEN: 4403,
  LEASE_HELD: 4409,
  TOO_SLOW: 4429,
  SHUTTING_DOWN: 1001,
} as const;

/** Client to daemon. */
export type ClientMessage =
  | { readonly type: "auth"; readonly token: string }
  | { readonly type: "lease"; readonly action: "take" | "release"; readonly takeover?: boolean }
  | { readonly type: "break"; readonly breakMs?: number };

/** Daemon to client. */
export type ServerMessage =
  | {
      readonly type: "hello";
      readonly port: string;
      readonly name: string;
      readonly role: string;
      readonly lease: LeaseView | null;
      /** Capture offset of the first byte that follows (backlog included). */
      readonly offset: number;
    }
  | { readonly type: "lease"; readonly lease: LeaseView | null; readonly yours: boolean }
  | { readonly type: "error"; readonly code: string; readonly message: string };

export interface LeaseView {
  readonly holder: string;
  readonly via: Lease["via"];
  readonly expiresAt: string | null;
}

export function leaseView(lease: Lease | null): LeaseView | null {
  return lease === null
    ? null
    : {
        holder: lease.holder,
        via: lease.via,
        expiresAt: lease.expiresAt === null ? null : new Date(lease.expiresAt).toISOString(),
      };
}

/** Parses a control frame; null for anything that is not one of the messages above. */
export function parseClientMessage(text: string): ClientMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const message = value as Record<string, unknown>;
  switch (message["type"]) {
    case "auth":
      return typeof message["token"] === "string" ? { type: "auth", token: message["token"] } : null;
    case "lease":
      return message["action"] === "take" || message["action"] === "release"
        ? { type: "lease", action: message["action"], takeover: message["takeover"] === true }
        : null;
    case "break": {
      const breakMs = message["breakMs"];
      if (breakMs === undefined) return { type: "break" };
      return Number.isInteger(breakMs) && (breakMs as number) >= 1 && (breakMs as number) <= 10_000
        ? { type: "break", breakMs: breakMs as number }
        : null;
    }
    default:
      return null;
  }
}
