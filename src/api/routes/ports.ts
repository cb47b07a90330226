import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import Type from "typebox";
import { mayUsePort } from "../auth/principal.js";
import { principalOf } from "../auth/plugin.js";
import type { Port } from "../../ports/port.js";
import { leaseView } from "../console/protocol.js";
import { PortInfoSchema, PortParams, errorResponses } from "../schemas.js";

export const portRoutes: FastifyPluginAsyncTypebox = async (app) => {
  /** The port's own view, plus who holds its writer lease and how many consoles watch it. */
  const describe = (port: Port) => ({
    ...port.info(),
    lease: leaseView(port.lease.current),
    viewers: port.viewers,
  });

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
        .map(describe),
  );

  app.get(
    "/ports/:id",
    {
      config: { access: "read" },
      schema: { params: PortParams, response: { 200: PortInfoSchema, ...errorResponses } },
    },
    (request) => describe(app.ports.get(request.params.id)),
  );
};
