import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import { ErrorResponse, PortInfoSchema, PortParams } from "../schemas.js";

export const portRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get("/healthz", { schema: { response: { 200: Type.Object({ status: Type.Literal("ok") }) } } }, () => ({
    status: "ok" as const,
  }));

  app.get("/ports", { schema: { response: { 200: Type.Array(PortInfoSchema) } } }, () =>
    app.ports.list().map((port) => port.info()),
  );

  app.get(
    "/ports/:id",
    {
      schema: {
        params: PortParams,
        response: { 200: PortInfoSchema, 400: ErrorResponse, 404: ErrorResponse },
      },
    },
    (request) => app.ports.get(request.params.id).info(),
  );
};
