/**
 * A token's SSH public keys (`sshKeys` lines and an `sshKeysFile` in authorized_keys format) and the
 * `ssh` block. A key is kept as its algorithm and wire blob; the blob must name the same algorithm
 * as the line, so a pasted key that lost characters is refused at load, not at the first login.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { BridgeError } from "../errors.js";
import type { ConfigInput } from "./schema.js";
import type { AuthConfig, SshConfig, SshPublicKey } from "./types.js";

const KEY_TYPE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com)$/;

function configError(message: string): BridgeError {
  return new BridgeError("CONFIG_INVALID", message);
}

/** One authorized_keys line ([options] type base64 [comment]); null for a blank or comment line. */
export function parseAuthorizedKey(line: string, at: string): SshPublicKey | null {
  const text = line.trim();
  if (text === "" || text.startsWith("#")) return null;
  const fields = text.split(/\s+/);
  // Options (from="...",no-pty) come first when present: the key type is the first field that is one.
  const index = fields.findIndex((field) => KEY_TYPE.test(field));
  const type = index === -1 ? undefined : fields[index];
  const encoded = index === -1 ? undefined : fields[index + 1];
  if (type === undefined || encoded === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded))
    throw configError(`${at}: not an SSH public key line (expected "ssh-ed25519 AAAA... comment")`);
  const blob = Buffer.from(encoded, "base64");
  const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (nameLength < 0 || 4 + nameLength > blob.length || blob.toString("latin1", 4, 4 + nameLength) !== type)
    throw configError(`${at}: the key data does not hold a ${type} key (truncated or mistyped?)`);
  return { type, blob };
}

/** A token's keys from its `sshKeys` lines and its `sshKeysFile`. */
export function tokenSshKeys(
  token: { readonly sshKeys?: readonly string[]; readonly sshKeysFile?: string },
  at: string,
  baseDir: string,
): SshPublicKey[] {
  const keys: SshPublicKey[] = [];
  (token.sshKeys ?? []).forEach((line, index) => {
    const key = parseAuthorizedKey(line, `${at}.sshKeys.${index}`);
    if (key === null) throw configError(`${at}.sshKeys.${index}: an empty line`);
    keys.push(key);
  });
  if (token.sshKeysFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(path.resolve(baseDir, token.sshKeysFile), "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? "error";
      throw configError(`${at}.sshKeysFile: cannot read ${token.sshKeysFile}: ${code}`);
    }
    text.split("\n").forEach((line, index) => {
      const key = parseAuthorizedKey(line, `${at}.sshKeysFile: ${token.sshKeysFile} line ${index + 1}`);
      if (key !== null) keys.push(key);
    });
  }
  return keys;
}

/** The `ssh` block; beyond loopback it needs at least one SSH key, as `listen` needs tokens. */
export function resolveSsh(
  input: ConfigInput["ssh"],
  auth: AuthConfig,
  captureDir: string,
  baseDir: string,
  isLoopback: (host: string) => boolean,
): SshConfig | null {
  if (input === undefined) return null;
  const host = input.host ?? "127.0.0.1";
  if (!auth.tokens.some((token) => token.sshKeys.length > 0) && !isLoopback(host)) {
    throw configError(
      `ssh.host: ${host} is reachable from other machines, but no auth.tokens entry has sshKeys or ` +
        "sshKeysFile and anyone could reboot your targets; add keys (see docs/ssh.md) or listen on 127.0.0.1",
    );
  }
  return {
    host,
    port: input.port,
    hostKeyFile:
      input.hostKeyFile === undefined
        ? path.join(captureDir, "ssh_host_ed25519_key")
        : path.resolve(baseDir, input.hostKeyFile),
  };
}
