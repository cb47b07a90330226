import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { BridgeError } from "../../errors.js";
import type { KeyResult } from "../../sysrq/result.js";
import { DEFAULT_SYSRQ_TIMEOUT_MS } from "../../sysrq/run.js";
import { PhaseTimes } from "../../sysrq/timing.js";
import { authorizeKeys, principalOf } from "../auth/plugin.js";
import { streamSysrq, wantsNdjson } from "./sysrq-stream.js";
import {
  BreakBody,
  BreakResponse,
  PortParams,
  SysrqBody,
  SysrqResponse,
  errorResponses,
} from "../schemas.js";
import { emptyBodyIsDefaults } from "../validation.js";

/** BREAK methods whose length the far end decides (no breakMs in their answer). */
const FAR_END_LENGTH: ReadonlySet<string> = new Set(["telnet-brk", "qmp-chardev-send-break"]);

/** A timed request's phases, and reply.elapsedTime when its sequence ended. */
interface Timing {
  readonly times: PhaseTimes;
  doneAt: number;
}

const timings = new WeakMap<FastifyRequest, Timing>();

/**
 * Server-Timing (ms) for a JSON SysRq answer, set after the audit record is written (route hooks run
 * after the app's): http, queue, wire, kernel, settle, respond and their total.
 */
function addServerTiming(request: FastifyRequest, reply: FastifyReply): void {
  const timing = timings.get(request);
  if (!timing) return;
  const total = reply.elapsedTime;
  timing.times.add("respond", total - timing.doneAt);
  const entries = [...timing.times.entries(), ["total", total] as const];
  void reply.header("server-timing", entries.map(([name, ms]) => `${name};dur=${ms.toFixed(2)}`).join(", "));
}

export const sysrqRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/sysrq",
    {
      config: { access: "operate", audit: "sysrq" },
      schema: { params: PortParams, body: SysrqBody, response: { 200: SysrqResponse, ...errorResponses } },
      onSend: (request, reply, payload, done) => {
        addServerTiming(request, reply);
        done(null, payload);
      },
    },
    async (request, reply) => {
      const { keys, timeoutMs = DEFAULT_SYSRQ_TIMEOUT_MS, settleMs = 100, breakMs } = request.body;
      request.auditDetail = { keys };
      authorizeKeys(principalOf(request), keys);
      const port = app.ports.get(request.params.id);
      const sysrq = { keys, timeoutMs, settleMs, ...(breakMs === undefined ? {} : { breakMs }) };
      const settled: KeyResult[] = [];
      const observe = (result: KeyResult): void => {
        settled.push(result);
        app.metrics.sysrqResult(port.id, result);
      };
      if (wantsNdjson(request))
        return streamSysrq(port, sysrq, { request, reply, audit: app.audit, observe });
      const timing: Timing = { times: new PhaseTimes(), doneAt: 0 };
      timing.times.add("http", reply.elapsedTime);
      timings.set(request, timing);
      try {
        const results = await port.sysrq(sysrq, observe, timing.times);
        timing.doneAt = reply.elapsedTime;
        request.auditDetail = { keys, verdicts: results.map((result) => result.verdict) };
        return { port: port.id, results };
      } catch (err) {
        // The link failed mid-sequence: the error still says what the keys before it did.
        if (!(err instanceof BridgeError) || settled.length === 0) throw err;
        request.auditDetail = { keys, verdicts: settled.map((result) => result.verdict) };
        throw new BridgeError(err.code, `${err.message}; ${settled.length} of ${keys.length} keys settled`, {
          cause: err,
          details: { ...err.details, results: settled },
        });
      }
    },
  );

  app.post(
    "/ports/:id/break",
    {
      config: { access: "operate", audit: "break" },
      preValidation: emptyBodyIsDefaults,
      schema: { params: PortParams, body: BreakBody, response: { 200: BreakResponse, ...errorResponses } },
    },
    async (request) => {
      const port = app.ports.get(request.params.id);
      const sent = await port.sendBreak(request.body?.breakMs);
      // telnet-brk and QMP chardev-send-break carry no length: the far end decides how long it is.
      const held = FAR_END_LENGTH.has(sent.method) ? {} : { breakMs: sent.breakMs };
      request.auditDetail = { ...held, method: sent.method };
      return { port: port.id, ...held, method: sent.method };
    },
  );
};
