/**
 * The SSH door's host key and its client keys. The host key (ed25519, OpenSSH format) is made by
 * ssh2 itself on first start, written mode 0600 (never over an existing file), and read back on
 * every start: a new key would make every client's known_hosts warn. A client key is matched against
 * the tokens' keys by comparing wire blobs in constant time, then its signature is verified.
 */
import { timingSafeEqual } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import ssh2 from "ssh2";
import type { PublicKeyAuthContext } from "ssh2";
import type { TokenConfig } from "../config/types.js";
import { BridgeError } from "../errors.js";

/** The host key's PEM text, generated into `file` when it does not exist yet. */
export async function loadHostKey(
  file: string,
): Promise<{ readonly key: string; readonly created: boolean }> {
  try {
    return { key: await readKey(file), created: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const pair = ssh2.utils.generateKeyPairSync("ed25519", {});
  await mkdir(path.dirname(file), { recursive: true });
  try {
    // wx: a second daemon racing this one keeps the key written first.
    await writeFile(file, pair.private, { mode: 0o600, flag: "wx" });
    await writeFile(`${file}.pub`, `${pair.public} sysrq-bridge\n`, { mode: 0o644, flag: "wx" }).catch(
      () => undefined, // the .pub is for people; its absence changes nothing
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return { key: await readKey(file), created: false };
  }
  return { key: pair.private, created: true };
}

async function readKey(file: string): Promise<string> {
  const key = await readFile(file, "utf8");
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error || Array.isArray(parsed) || !parsed.isPrivateKey())
    throw new BridgeError("CONFIG_INVALID", `ssh.hostKeyFile: ${file} is not an unencrypted private key`);
  return key;
}

/** The token whose keys hold this blob, or null; every key of every token is compared. */
export function tokenForKey(tokens: readonly TokenConfig[], blob: Buffer): TokenConfig | null {
  let match: TokenConfig | null = null;
  for (const token of tokens) {
    for (const key of token.sshKeys) {
      const same = key.blob.length === blob.length && timingSafeEqual(key.blob, blob);
      if (same && match === null) match = token;
    }
  }
  return match;
}

/** True when a publickey attempt carries a valid signature by the key it offers. */
export function signatureValid(ctx: PublicKeyAuthContext): boolean {
  if (ctx.signature === undefined || ctx.blob === undefined) return false;
  const parsed = ssh2.utils.parseKey(ctx.key.data);
  if (parsed instanceof Error || Array.isArray(parsed)) return false;
  const key = parsed;
  return key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
}
