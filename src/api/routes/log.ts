import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import safeRegex from "safe-regex2";
import { BridgeError } from "../../errors.js";
import { LogQuery, LogResponse, PortParams, errorResponses } from "../schemas.js";

/**
 * A user's pattern runs on the event loop over every console line (at most MAX_LINE_BYTES each), so
 * patterns with nested quantifiers, which can backtrack exponentially ((a+)+$), are refused.
 */
function compileMatch(pattern: string | undefined): RegExp | null {
  if (pattern === undefined) return null;
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (err) {
    throw new BridgeError("VALIDATION", `match is not a valid regular expression: ${(err as Error).message}`);
  }
  if (!safeRegex(regex)) {
    throw new BridgeError(
      "VALIDATION",
      "match has nested repetition (like (a+)+) that can take exponential time; simplify the pattern",
    );
  }
  return regex;
}

export const logRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/ports/:id/log",
    {
      config: { access: "read" },
      schema: {
        params: PortParams,
        querystring: LogQuery,
        response: { 200: LogResponse, ...errorResponses },
      },
    },
    async (request) => {
      const log = app.ports.get(request.params.id).capture.log;
      const { since, limit = 1000, waitMs, match } = request.query;
      const pattern = compileMatch(match);
      if (waitMs !== undefined && waitMs > 0) {
        // Long-poll: ended early when the client goes away or the daemon shuts down.
        const abort = new AbortController();
        const onClose = (): void => abort.abort();
        request.raw.once("close", onClose);
        try {
          await log.waitFor(since ?? log.next, pattern, waitMs, AbortSignal.any([abort.signal, app.closing]));
        } finally {
          request.raw.off("close", onClose);
        }
      }
      return log.query(since, limit, pattern);
    },
  );
};
