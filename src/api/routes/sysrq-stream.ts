/**
 * `Accept: application/x-ndjson` on POST /ports/:id/sysrq: one result per line as each key settles,
 * then the stream ends. The sequence stays one queued unit (no interleaving, `skipped` and awaited
 * completions intact); only its reporting is incremental. Refusals that happen before the first key
 * (validation, role, queue full, port unavailable) are ordinary JSON errors with their status.
 */
import { PassThrough } from "node:stream";
import type { FastifyReply, FastifyRequest } from "fastify";
import { BridgeError } from "../../errors.js";
import type { Port, SysrqRequest } from "../../ports/port.js";
import type { KeyResult } from "../../sysrq/result.js";
import type { AuditLog } from "../../audit/audit-log.js";
import { recordAudit } from "../install-audit.js";

export const NDJSON = "application/x-ndjson";

export function wantsNdjson(request: FastifyRequest): boolean {
  return (request.headers.accept ?? "").split(",").some((type) => type.trim().startsWith(NDJSON));
}

export interface StreamContext {
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly audit: AuditLog;
  /** Sees each result as it settles (metrics). */
  readonly observe: (result: KeyResult) => void;
}

export async function streamSysrq(
  port: Port,
  sysrq: SysrqRequest,
  { request, reply, audit, observe }: StreamContext,
): Promise<FastifyReply> {
  const stream = new PassThrough();
  const verdicts: string[] = [];
  let firstResult: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (firstResult = resolve));
  const onResult = (result: KeyResult): void => {
    verdicts.push(result.verdict);
    observe(result);
    stream.write(`${JSON.stringify(result)}\n`);
    firstResult();
  };
  const done = port.sysrq(sysrq, onResult);
  // Fails here, as a plain JSON error, when the sequence is refused before its first key.
  await Promise.race([started, done]);
  request.auditDeferred = true;
  done.then(
    async () => {
      request.auditDetail = { keys: sysrq.keys, verdicts, streamed: true };
      await recordAudit(audit, request, 200);
      stream.end();
    },
    async (err: unknown) => {
      const error =
        err instanceof BridgeError
          ? { code: err.code, message: err.message }
          : { code: "INTERNAL", message: "internal error; see the daemon's log" };
      if (!(err instanceof BridgeError)) request.log.error({ err }, "streamed sequence failed");
      request.auditDetail = { keys: sysrq.keys, verdicts, streamed: true, error: error.code };
      await recordAudit(audit, request, 200, error.code);
      stream.end(`${JSON.stringify({ error })}\n`);
    },
  );
  return reply.type(NDJSON).send(stream);
}
