import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BridgeError } from "../../errors.js";
import { LogQuery, LogResponse, PortParams, errorResponses } from "../schemas.js";

function compileMatch(pattern: string | undefined): RegExp | null {
  if (pattern === undefined) return null;
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new BridgeError("VALIDATION", `match is not a valid regular expression: ${(err as Error).message}`);
  }
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
