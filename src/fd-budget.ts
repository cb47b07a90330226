/**
 * The file descriptors left for client connections. Node raises the soft RLIMIT_NOFILE to the hard
 * one at start and has no getrlimit, so the limit is read from /proc/self/limits. A reserve (a few
 * per port for its wire, lock and capture files, plus FD_RESERVE for the audit, logs and the runtime)
 * is kept out of the connection cap so the ports can always reconnect; when the limit leaves fewer
 * than MIN_CONNECTIONS the daemon refuses to start.
 */
import { readFileSync, readdirSync } from "node:fs";
import { BridgeError } from "./errors.js";

export const FD_PER_PORT = 4;
export const FD_RESERVE = 64;
export const MIN_CONNECTIONS = 16;

export interface FdBudget {
  /** The soft limit on open files, or null where /proc does not tell. */
  readonly limit: number | null;
  /** How many connections fit beside what is open now and the reserve. */
  readonly connections: number;
  readonly reserve: number;
}

/** What is left for connections under `limit` (Infinity when unknown), capped at `maxConnections`. */
export function fdBudget(ports: number, maxConnections: number, limit = openFilesLimit()): FdBudget {
  const reserve = ports * FD_PER_PORT + FD_RESERVE;
  if (limit === null) return { limit, connections: maxConnections, reserve };
  const connections = Math.min(maxConnections, limit - openFiles() - reserve);
  if (connections < MIN_CONNECTIONS) {
    throw new BridgeError(
      "CONFIG_INVALID",
      `the open-files limit (RLIMIT_NOFILE ${limit}) is too low for ${ports} port(s): raise it to at ` +
        `least ${openFiles() + reserve + MIN_CONNECTIONS} (ulimit -n, LimitNOFILE=)`,
    );
  }
  return { limit, connections, reserve };
}

function openFilesLimit(): number | null {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    if (soft === undefined || soft === "unlimited") return null;
    const value = Number(soft);
    return Number.isSafeInteger(value) ? value : null;
  } catch {
    return null;
  }
}

function openFiles(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return 0;
  }
}
