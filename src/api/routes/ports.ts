import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import { mayUsePort } from "../auth/principal.js";
import { principalOf } from "../auth/plugin.js";
import { PortInfoSchema, PortParams, errorResponses } from "../schemas.js";

export const portRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/healthz",
    {
      config: { access: "public", rateLimit: false },
      schema: { response: { 200: Type.Object({ status: Type.Literal("ok") }) } },
    },
    () => ({
      status: "ok" as const,
    }),
  );

  // A token limited to some ports sees only those.
  app.get(
    "/ports",
    {
      config: { access: "read" },
      schema: { response: { 200: Type.Array(PortInfoSchema), ...errorResponses } },
    },
    (request) =>
      app.ports
        .list()
        .filter((port) => mayUsePort(principalOf(request), port.id))
        .map((port) => port.info()),
  );

  app.get(
    "/ports/:id",
    {
      config: { access: "read" },
      schema: { params: PortParams, response: { 200: PortInfoSchema, ...errorResponses } },
    },
    (request) => app.ports.get(request.params.id).info(),
  );
};
