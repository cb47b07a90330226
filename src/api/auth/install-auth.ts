/**
 * Bearer-token access control. Every route declares `config.access` (public, read, operate or
 * admin); a route that declares nothing needs admin, so a forgotten declaration fails closed.
 * A token limited to some ports gets 403 on any other port's routes. Key-level checks (destructive
 * SysRq keys need admin) happen in the route, once the body is validated: see authorizeKeys.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { RateLimitConfig, Role } from "../../config/types.js";
import { BridgeError } from "../../errors.js";
import { AuthFailures } from "./failures.js";
import { refuseOrigin } from "./origin.js";
import { OPEN_ACCESS, mayUsePort, type Principal } from "./principal.js";
import { roleAtLeast, roleForKeys } from "../../clients/roles.js";
import type { TokenVerifier } from "./tokens.js";

export type Access = "public" | Role;

declare module "fastify" {
  interface FastifyContextConfig {
    /** Who may call this route; absent means admin. */
    access?: Access;
  }
  interface FastifyRequest {
    /** Set for every non-public route once the caller is known. */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** Failed authentications per client address (the console WebSocket's too). */
    authFailures: AuthFailures;
  }
}

function forbidden(principal: Principal, needed: Role, what: string): BridgeError {
  return new BridgeError(
    "FORBIDDEN",
    `${what} needs the ${needed} role; token "${principal.name}" has ${principal.role}`,
    { details: { requiredRole: needed, role: principal.role } },
  );
}

export function installAuth(app: FastifyInstance, verifier: TokenVerifier, limits: RateLimitConfig): void {
  app.decorateRequest("principal", null);
  const failures = new AuthFailures(app.log, limits.authFailures, limits.timeWindowMs);
  app.decorate("authFailures", failures);

  // Open mode makes every caller admin: only loopback Host names (no DNS rebinding), on every route.
  // Checked per request: a reload may add the first token or remove the last.
  app.addHook("onRequest", (request, _reply, done) => {
    done(
      verifier.enabled
        ? undefined
        : (refuseOrigin(request.headers.origin, request.headers.host, false) ?? undefined),
    );
  });
  app.addHook("onRequest", async (request, reply) => {
    const access = request.routeOptions.config.access ?? "admin";
    if (access === "public") return;
    const blockedMs = verifier.enabled ? failures.blockedForMs(request.ip) : 0;
    if (blockedMs > 0) {
      const seconds = Math.max(1, Math.ceil(blockedMs / 1000));
      void reply.header("retry-after", String(seconds));
      throw new BridgeError(
        "RATE_LIMITED",
        `too many failed authentications from this address; retry in ${seconds} s`,
      );
    }
    const principal = verifier.enabled ? verifier.verify(request.headers.authorization) : OPEN_ACCESS;
    if (principal === null) {
      failures.failed(request.ip);
      void reply.header("www-authenticate", 'Bearer realm="sysrq-bridge"');
      throw new BridgeError(
        "UNAUTHORIZED",
        "a valid token is required: send the header Authorization: Bearer <token>",
      );
    }
    request.principal = principal;
    if (!roleAtLeast(principal.role, access)) {
      throw forbidden(principal, access, `${request.method} ${request.routeOptions.url ?? "this route"}`);
    }
    const portId = (request.params as { id?: unknown } | undefined)?.id;
    if (typeof portId === "string" && !mayUsePort(principal, portId)) {
      throw new BridgeError("FORBIDDEN", `token "${principal.name}" may not use port ${portId}`, {
        details: { port: portId },
      });
    }
  });
}

/** The caller of a route that passed installAuth's hook (which always sets it on non-public routes). */
export function principalOf(request: FastifyRequest): Principal {
  return request.principal ?? OPEN_ACCESS;
}

/** Refuses the whole sequence, before anything is queued, when any key is beyond the caller's role. */
export function authorizeKeys(principal: Principal, keys: string): void {
  const needed = roleForKeys(keys);
  if (!roleAtLeast(principal.role, needed)) {
    throw forbidden(principal, needed, `keys "${keys}" (destructive: b c o e i k f)`);
  }
}
