import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BridgeError } from "../../errors.js";
import { compileUserRegex } from "../../capture/user-regex.js";
import { PORT_ERRORS, PortParams, errorsOf } from "../schemas/common.js";
import { LogQuery, LogResponse } from "../schemas/log.js";

export const logRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/ports/:id/log",
    {
      config: { access: "read" },
      schema: {
        summary: "Read console lines",
        description:
          "The port's recent console lines by seq. Without since: from the oldest retained line; with waitMs, " +
          "only lines printed after the call. A since past the end is the end. tail=N: the last N lines and next. " +
          "In a query string + means a space: send a regex + as %2B.",
        tags: ["console"],
        params: PortParams,
        querystring: LogQuery,
        response: { 200: LogResponse, ...errorsOf(PORT_ERRORS) },
      },
    },
    async (request) => {
      const log = app.ports.get(request.params.id).capture.lines;
      const { since, limit = 1000, waitMs, match, tail } = request.query;
      if (tail !== undefined) {
        const other = (["since", "waitMs", "match"] as const).find(
          (name) => request.query[name] !== undefined,
        );
        if (other !== undefined) {
          throw new BridgeError("VALIDATION", `querystring field '${other}' cannot be combined with tail`, {
            details: { field: other },
          });
        }
        return log.tail(tail);
      }
      const pattern = match === undefined ? null : await compileUserRegex(match, "match");
      // A long-poll or a long scan ends early when the client goes away or the daemon shuts down.
      const gone = new AbortController();
      const onClose = (): void => gone.abort();
      request.raw.once("close", onClose);
      try {
        return await log.read({
          ...(since === undefined ? {} : { since }),
          limit,
          match: pattern,
          ...(waitMs === undefined ? {} : { waitMs }),
          signal: AbortSignal.any([gone.signal, app.closing]),
        });
      } finally {
        request.raw.off("close", onClose);
      }
    },
  );
};
