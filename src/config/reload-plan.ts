/**
 * What a reload would do, decided from the running config and the new one alone (no I/O): which
 * ports are added, removed, changed (stopped and started anew) or left untouched, and which changes
 * cannot apply while the daemon runs (the listener, where captures and locks live, the audit file).
 */
import { isDeepStrictEqual } from "node:util";
import { BridgeError } from "../errors.js";
import type { BridgeConfig, PortConfig } from "./types.js";

/** One thing wrong with a config: the key's dotted path and what to fix. */
export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

export interface ReloadPlan {
  /** In the new config's order. */
  readonly added: readonly PortConfig[];
  readonly removed: readonly string[];
  readonly changed: readonly PortConfig[];
  readonly unchanged: readonly string[];
  /** Non-empty: the reload is refused as a whole. */
  readonly refused: readonly ConfigProblem[];
}

/** Settings read once at start-up: changing them needs a restart. */
const FIXED: readonly (readonly [string, (config: BridgeConfig) => unknown])[] = [
  ["listen", (config) => config.listen],
  // The SSH door's listener and host key: bound once, like listen (its keys follow auth live).
  ["ssh", (config) => config.ssh],
  ["captureDir", (config) => config.captureDir],
  ["capture", (config) => config.capture],
  ["audit", (config) => config.audit],
];

export function planReload(current: BridgeConfig, next: BridgeConfig): ReloadPlan {
  const refused: ConfigProblem[] = [];
  for (const [path, of] of FIXED) {
    if (!isDeepStrictEqual(of(current), of(next))) {
      refused.push({ path, message: "cannot change while the daemon runs; restart it to apply" });
    }
  }
  const lockDirs = [lockDirOf(current), lockDirOf(next)];
  if (lockDirs[0] !== undefined && lockDirs[1] !== undefined && lockDirs[0] !== lockDirs[1]) {
    refused.push({ path: "lockDir", message: "cannot change while the daemon runs; restart it to apply" });
  }
  const before = new Map(current.ports.map((port) => [port.id, port]));
  const after = new Set(next.ports.map((port) => port.id));
  const added: PortConfig[] = [];
  const changed: PortConfig[] = [];
  const unchanged: string[] = [];
  for (const port of next.ports) {
    const old = before.get(port.id);
    if (old === undefined) added.push(port);
    else if (isDeepStrictEqual(old, port)) unchanged.push(port.id);
    else changed.push(port);
  }
  const removed = current.ports.map((port) => port.id).filter((id) => !after.has(id));
  return { added, removed, changed, unchanged, refused };
}

/** The UUCP lock folder the tty ports use (one for all); undefined without tty ports. */
function lockDirOf(config: BridgeConfig): string | null | undefined {
  for (const port of config.ports) if (port.transport.kind === "tty") return port.transport.lockDir;
  return undefined;
}

/** A config error as `{ path, message }`: load.ts's messages start with the key path ("ports.0.id: ..."). */
export function configProblems(err: BridgeError): ConfigProblem[] {
  const details = err.details?.["errors"];
  if (Array.isArray(details)) return details as ConfigProblem[];
  const at = err.message.indexOf(": ");
  if (at <= 0 || /\s/.test(err.message.slice(0, at))) return [{ path: "(top level)", message: err.message }];
  return [{ path: err.message.slice(0, at), message: err.message.slice(at + 2) }];
}
