import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";

export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get("/metrics", { config: { access: "read" }, schema: { hide: true } }, async (_request, reply) => {
    void reply.type(app.metrics.registry.contentType);
    return app.metrics.registry.metrics();
  });
};
