import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { NmiBody, NmiResponse, PortParams, errorResponses } from "../schemas.js";
import { emptyBodyIsDefaults } from "../validation.js";

export const nmiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/nmi",
    {
      config: { access: "admin", audit: "nmi" },
      preValidation: emptyBodyIsDefaults,
      schema: { params: PortParams, body: NmiBody, response: { 200: NmiResponse, ...errorResponses } },
    },
    async (request) => {
      const port = app.ports.get(request.params.id);
      const result = await port.nmi(request.body?.timeoutMs ?? 3000);
      request.auditDetail = { verdict: result.verdict };
      app.metrics.nmiResult(port.id, result);
      return { port: port.id, ...result };
    },
  );
};
