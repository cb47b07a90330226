import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { principalOf } from "../auth/install-auth.js";
import { AUTH_ERRORS, errorsOf } from "../schemas/common.js";
import { AuditQuery, AuditResponse } from "../schemas/audit.js";

export const auditRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/audit",
    {
      config: { access: "admin" },
      schema: {
        summary: "Read the audit log",
        description:
          "Admin only. Every action a known caller attempted, with its outcome, oldest first; a port-scoped token sees its ports' records.",
        tags: ["audit"],
        querystring: AuditQuery,
        response: { 200: AuditResponse, ...errorsOf([400, ...AUTH_ERRORS]) },
      },
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
