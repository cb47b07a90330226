/**
 * Records every action a known caller attempts (routes with `config.audit`), with its outcome, in the
 * audit file before the response is sent. Requests without a valid token are not recorded there (they
 * could fill the disk); they are logged as warnings instead. Fail-closed: while the audit file cannot
 * be written, every audited route but a lease release answers 503 AUDIT_UNAVAILABLE before it acts.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BridgeError } from "../errors.js";
import type { AuditLog } from "../audit/audit-log.js";

/** Giving a lease back sends nothing and only lowers who may type: allowed unaudited. */
const ALLOWED_UNAUDITED = new Set(["lease-release"]);

declare module "fastify" {
  interface FastifyContextConfig {
    /** The action name this route writes to the audit file. */
    audit?: string;
  }
  interface FastifyRequest {
    /** What the handler wants recorded besides who, where and the status: keys, verdicts, bytes. */
    auditDetail: Record<string, unknown> | null;
    /** Set by a streaming route that writes its own record once the stream has its outcome. */
    auditDeferred: boolean;
  }
}

function errorCode(payload: unknown): string | undefined {
  if (typeof payload !== "string") return undefined;
  try {
    const code = (JSON.parse(payload) as { code?: unknown }).code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

export function installAudit(app: FastifyInstance, audit: AuditLog): void {
  app.decorateRequest("auditDetail", null);
  app.decorateRequest("auditDeferred", false);
  // After auth and validation (a 401/400 needs no audit), before the handler sends anything.
  app.addHook("preHandler", (request, _reply, done) => {
    const action = request.routeOptions.config.audit;
    const problem = action === undefined || ALLOWED_UNAUDITED.has(action) ? null : audit.unavailable();
    done(problem === null ? undefined : new BridgeError("AUDIT_UNAVAILABLE", `${problem}; nothing was sent`));
  });
  app.addHook("onSend", async (request, reply, payload) => {
    if (request.auditDeferred) return payload;
    const code = reply.statusCode >= 400 ? errorCode(payload) : undefined;
    if (code === "RATE_LIMITED") return payload;
    await recordAudit(audit, request, reply.statusCode, code);
    return payload;
  });
}

/** Writes the request's audit record, when its route is audited and the caller is known. */
export async function recordAudit(
  audit: AuditLog,
  request: FastifyRequest,
  status: number,
  code?: string,
): Promise<void> {
  const action = request.routeOptions.config.audit;
  if (action === undefined || request.principal === null) return;
  const port = (request.params as { id?: unknown } | undefined)?.id;
  try {
    await audit.append({
      requestId: request.id,
      token: request.principal.name,
      client: request.ip,
      action,
      ...(typeof port === "string" ? { port } : {}),
      status,
      ...(code === undefined ? {} : { code }),
      ...request.auditDetail,
    });
  } catch (err) {
    request.log.error({ err, action }, "could not write the audit record");
  }
}
