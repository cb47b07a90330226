/**
 * Resolves the config's security blocks: who may call (auth tokens, kept only as SHA-256 digests),
 * where they may listen (loopback unless tokens exist), TLS material, audit file and rate limit.
 * Every error names the key to fix.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import path from "node:path";
import { BridgeError } from "../errors.js";
import type { ConfigInput } from "./schema.js";
import { tokenSshKeys } from "./ssh-keys.js";
/** Failed authentications per address per rate-limit window, by default. */
const AUTH_FAILURE_LIMIT = 10;
import type { AuditConfig, AuthConfig, ListenConfig, RateLimitConfig, TokenConfig } from "./types.js";

function configError(message: string): BridgeError {
  return new BridgeError("CONFIG_INVALID", message);
}

type TokenInput = NonNullable<ConfigInput["auth"]>["tokens"][number];

export function sha256(secret: string): Buffer {
  return createHash("sha256").update(secret, "utf8").digest();
}

/** The token's secret digest, or null for a token with SSH keys only (`hasKeys`). */
function tokenDigest(
  token: TokenInput,
  at: string,
  baseDir: string,
  env: NodeJS.ProcessEnv,
  hasKeys: boolean,
): Buffer | null {
  const sources = (["sha256", "file", "env"] as const).filter((key) => token[key] !== undefined);
  if (sources.length > 1)
    throw configError(`${at}: give at most one of sha256, file or env (found ${sources.join(", ")})`);
  if (sources.length === 0) {
    if (hasKeys) return null;
    throw configError(`${at}: give one of sha256, file or env, or sshKeys / sshKeysFile (found none)`);
  }
  if (token.sha256 !== undefined) return Buffer.from(token.sha256, "hex");
  let secret: string;
  if (token.file !== undefined) {
    try {
      secret = readFileSync(path.resolve(baseDir, token.file), "utf8").trim();
    } catch (err) {
      throw configError(
        `${at}.file: cannot read ${token.file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`,
      );
    }
    if (secret === "") throw configError(`${at}.file: ${token.file} is empty`);
  } else {
    secret = (env[token.env ?? ""] ?? "").trim();
    if (secret === "") throw configError(`${at}.env: environment variable ${token.env ?? ""} is not set`);
  }
  if (secret.length < 16) throw configError(`${at}: a token must be at least 16 characters long`);
  return sha256(secret);
}

export function resolveAuth(
  input: ConfigInput["auth"],
  portIds: ReadonlySet<string>,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): AuthConfig {
  const names = new Set<string>();
  const digests = new Set<string>();
  const blobs = new Set<string>();
  const tokens = (input?.tokens ?? []).map((token, index): TokenConfig => {
    const at = `auth.tokens.${index}`;
    if (names.has(token.name)) throw configError(`${at}.name: duplicate token name "${token.name}"`);
    names.add(token.name);
    const sshKeys = tokenSshKeys(token, at, baseDir);
    const digest = tokenDigest(token, at, baseDir, env, sshKeys.length > 0);
    if (digest !== null) {
      if (digests.has(digest.toString("hex")))
        throw configError(`${at}: the same secret as an earlier token`);
      digests.add(digest.toString("hex"));
    }
    for (const key of sshKeys) {
      const blob = key.blob.toString("base64");
      if (blobs.has(blob)) throw configError(`${at}: an SSH key of an earlier token (or twice here)`);
      blobs.add(blob);
    }
    const unknown = (token.ports ?? []).find((id) => !portIds.has(id));
    if (unknown !== undefined) throw configError(`${at}.ports: no port with id "${unknown}"`);
    return {
      name: token.name,
      role: token.role,
      sha256: digest,
      sshKeys,
      ports: token.ports === undefined ? null : new Set(token.ports),
    };
  });
  return { tokens };
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || /^::ffff:127\./i.test(host);
  return false;
}

function readPem(file: string, at: string, baseDir: string): Buffer {
  try {
    return readFileSync(path.resolve(baseDir, file));
  } catch (err) {
    throw configError(`${at}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`);
  }
}

export function resolveListen(input: ConfigInput["listen"], auth: AuthConfig, baseDir: string): ListenConfig {
  const host = input?.host ?? "127.0.0.1";
  if (auth.tokens.length === 0 && !isLoopbackHost(host)) {
    throw configError(
      `listen.host: ${host} is reachable from other machines, but auth.tokens is empty and anyone could ` +
        "reboot your targets; add auth.tokens (see README: Security) or listen on 127.0.0.1",
    );
  }
  const tls = input?.tls;
  return {
    host,
    port: input?.port ?? 8420,
    ...(tls
      ? {
          tls: {
            cert: readPem(tls.cert, "listen.tls.cert", baseDir),
            key: readPem(tls.key, "listen.tls.key", baseDir),
          },
        }
      : {}),
  };
}

export function resolveAudit(input: ConfigInput["audit"], captureDir: string, baseDir: string): AuditConfig {
  return {
    file:
      input?.file === undefined ? path.join(captureDir, "audit.jsonl") : path.resolve(baseDir, input.file),
    fsync: input?.fsync ?? "interval",
  };
}

export function resolveRateLimit(input: ConfigInput["rateLimit"]): RateLimitConfig {
  return {
    max: input?.max ?? 600,
    timeWindowMs: input?.timeWindowMs ?? 60_000,
    authFailures: input?.authFailures ?? AUTH_FAILURE_LIMIT,
  };
}
