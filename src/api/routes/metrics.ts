import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { principalOf } from "../auth/install-auth.js";
import { mayUsePort } from "../auth/principal.js";
import { onlyPorts } from "../metrics/port-scope.js";

export const metricsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get("/metrics", { config: { access: "read" }, schema: { hide: true } }, async (request, reply) => {
    void reply.type(app.metrics.registry.contentType);
    const principal = principalOf(request);
    const text = await app.metrics.registry.metrics();
    return principal.ports === null ? text : onlyPorts(text, (id) => mayUsePort(principal, id));
  });
};
