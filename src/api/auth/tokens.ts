/**
 * Checks a presented bearer token against the configured ones. Only SHA-256 digests are kept, and
 * every digest is compared in constant time, so neither the secret nor its position leaks by timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { TokenConfig } from "../../config/types.js";
import type { Principal } from "./principal.js";

const BEARER = /^Bearer[ \t]+(\S{1,512})[ \t]*$/i;

export class TokenVerifier {
  constructor(private tokens: readonly TokenConfig[]) {}

  /** A reload's token set: requests checked from now on see it (the daemon's one holder of the tokens). */
  use(tokens: readonly TokenConfig[]): void {
    this.tokens = tokens;
  }

  get enabled(): boolean {
    return this.tokens.length > 0;
  }

  /** The token's principal, or null when the header is missing, malformed or matches no token. */
  verify(authorization: string | undefined): Principal | null {
    const secret = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (secret === undefined) return null;
    const digest = createHash("sha256").update(secret, "utf8").digest();
    let match: TokenConfig | null = null;
    for (const token of this.tokens) {
      // No early exit: every token is compared whatever matched before.
      if (token.sha256 !== null && timingSafeEqual(digest, token.sha256) && match === null) match = token;
    }
    return match === null ? null : { name: match.name, role: match.role, ports: match.ports };
  }
}
