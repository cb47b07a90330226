import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import { BridgeError } from "../../errors.js";
import type { KeyResult } from "../../sysrq/result.js";
import { DEFAULT_SYSRQ_TIMEOUT_MS } from "../../sysrq/run.js";
import { PhaseTimes } from "../../sysrq/timing.js";
import { authorizeKeys, principalOf } from "../auth/install-auth.js";
import { NDJSON, streamSysrq, wantsNdjson } from "./sysrq-stream.js";
import { BODY_ERRORS, PORT_ERRORS, PortParams, QUEUE_OR_RATE, errorsOf } from "../schemas/common.js";
import { BreakBody, BreakResponse, SysrqBody, SysrqResponse, SysrqStreamLine } from "../schemas/sysrq.js";
import { emptyBodyIsDefaults } from "../validation.js";

/** What SysRq and BREAK can answer: they queue on the port and drive the wire under a deadline. */
const WIRE_ROUTE_ERRORS = [...PORT_ERRORS, ...BODY_ERRORS, 409, 503, 504] as const;
const WIRE_ROUTE_MEANINGS = {
  409: "the port cannot send a BREAK (BREAK_UNSUPPORTED)",
  429: QUEUE_OR_RATE,
} as const;

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
      schema: {
        summary: "Send SysRq keys",
        description:
          "Sends a serial BREAK + key per key and reports the kernel's verdict on each (acknowledged, disabled, " +
          "unsupported, no-response, skipped), with what the console printed. The sequence stops at the first " +
          "no-response. With `Accept: application/x-ndjson` each result is a line as its key settles; a failure " +
          "after the first key ends the stream with an {error} line.",
        tags: ["sysrq"],
        params: PortParams,
        body: SysrqBody,
        response: {
          200: {
            description: "the verdict on every key",
            content: {
              "application/json": { schema: SysrqResponse },
              [NDJSON]: { schema: SysrqStreamLine },
            },
          },
          ...errorsOf(WIRE_ROUTE_ERRORS, WIRE_ROUTE_MEANINGS),
        },
      },
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
      schema: {
        summary: "Send a BREAK",
        description:
          "A plain serial BREAK (firmware that wants one). It arms SysRq for 5 s: the next SysRq request uses it " +
          "rather than sending another. breakMs is how long the line is held; telnet-brk and QMP " +
          "chardev-send-break BREAKs have no length of ours, so their answer has none. A body is optional.",
        tags: ["sysrq"],
        params: PortParams,
        body: BreakBody,
        response: { 200: BreakResponse, ...errorsOf(WIRE_ROUTE_ERRORS, WIRE_ROUTE_MEANINGS) },
      },
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
