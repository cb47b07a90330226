import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { principalOf } from "../auth/plugin.js";
import { AuditQuery, AuditResponse, errorResponses } from "../schemas.js";

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/audit",
    {
      config: { access: "admin" },
      schema: { querystring: AuditQuery, response: { 200: AuditResponse, ...errorResponses } },
    },
    async (request) => {
      const { since = 1, limit = 1000, port } = request.query;
      const { records, next } = await app.audit.query({
        since,
        limit,
        ...(port === undefined ? {} : { port }),
        ports: principalOf(request).ports,
      });
      return { entries: records, next };
    },
  );
};
