/**
 * Resolves a port's `export` block: telnet and RFC 2217 listeners that re-export its console. A
 * listener's clients give no token, so each acts as a named token (its role, ports and audit name)
 * and listens on loopback or a unix socket unless `allowUnauthenticated: true` says otherwise.
 */
import path from "node:path";
import { BridgeError } from "../errors.js";
import type { PortInput } from "./schema.js";
import { isLoopbackHost } from "./security.js";
import type { AuthConfig, ExportListenerConfig, PortExportConfig } from "./types.js";

type ExportInput = NonNullable<PortInput["export"]>;
type ListenerInput = NonNullable<ExportInput["telnet"]>;

function configError(message: string): BridgeError {
  return new BridgeError("CONFIG_INVALID", message);
}

export function resolveExport(
  input: ExportInput,
  portId: string,
  at: string,
  auth: AuthConfig,
  baseDir: string,
): PortExportConfig {
  const listeners: { telnet?: ExportListenerConfig; rfc2217?: ExportListenerConfig } = {};
  if (input.telnet)
    listeners.telnet = resolveListener(input.telnet, portId, `${at}.telnet`, auth, baseDir, true);
  if (input.rfc2217)
    listeners.rfc2217 = resolveListener(input.rfc2217, portId, `${at}.rfc2217`, auth, baseDir, false);
  return listeners;
}

function resolveListener(
  input: ListenerInput,
  portId: string,
  at: string,
  auth: AuthConfig,
  baseDir: string,
  // a person at a telnet client reads the greeting; an RFC 2217 client is a program reading the target
  noticesByDefault: boolean,
): ExportListenerConfig {
  const hasPath = input.path !== undefined;
  if (hasPath === (input.host !== undefined || input.port !== undefined)) {
    throw configError(`${at}: give either path, or host and port`);
  }
  if (!hasPath && input.port === undefined) throw configError(`${at}.port: is required with host`);
  const host = input.host ?? "127.0.0.1";
  if (!hasPath && !isLoopbackHost(host) && input.allowUnauthenticated !== true) {
    throw configError(
      `${at}.host: ${host} is reachable from other machines and its clients give no token; listen on ` +
        `127.0.0.1 or a unix socket (path), or set ${at}.allowUnauthenticated: true`,
    );
  }
  return {
    endpoint:
      input.path !== undefined
        ? { path: path.resolve(baseDir, input.path) }
        : { host, port: input.port ?? 0 },
    mode: input.mode ?? "rw",
    actsAs: resolveActsAs(input.as, portId, at, auth),
    notices: input.notices ?? noticesByDefault,
  };
}

function resolveActsAs(name: string | undefined, portId: string, at: string, auth: AuthConfig) {
  if (auth.tokens.length === 0) {
    if (name !== undefined) throw configError(`${at}.as: no auth.tokens are configured to act as`);
    return { name: "anonymous", role: "admin" as const, ports: null };
  }
  if (name === undefined) {
    throw configError(`${at}.as: is required when auth.tokens is set (the token whose role clients get)`);
  }
  const token = auth.tokens.find((t) => t.name === name);
  if (token === undefined) {
    const known = auth.tokens.map((t) => t.name).join(", ");
    throw configError(`${at}.as: no token named "${name}" in auth.tokens (known: ${known})`);
  }
  if (token.ports !== null && !token.ports.has(portId)) {
    throw configError(`${at}.as: token "${name}" may not use port ${portId} (see its ports)`);
  }
  return { name: token.name, role: token.role, ports: token.ports };
}
