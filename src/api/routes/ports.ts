import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { mayUsePort } from "../auth/principal.js";
import { principalOf } from "../auth/install-auth.js";
import type { Port } from "../../ports/port.js";
import { recoverCapability } from "../../recovery/ladder-steps.js";
import { leaseView } from "../console/protocol.js";
import { AUTH_ERRORS, PORT_ERRORS, PortParams, errorsOf } from "../schemas/common.js";
import { HealthResponse, PortInfoSchema, PortListResponse } from "../schemas/ports.js";

export const portRoutes: FastifyPluginAsyncTypebox = async (app) => {
  /** The port's own view, plus who holds its writer lease and how many consoles watch it. */
  const describe = (port: Port) => {
    const info = port.info();
    return {
      ...info,
      capabilities: { ...info.capabilities, recover: recoverCapability(port) },
      lease: leaseView(port.lease.current),
      viewers: port.viewers,
      health: app.recovery.health(port.id),
    };
  };

  app.get(
    "/healthz",
    {
      config: { access: "public", rateLimit: false },
      schema: {
        summary: "Liveness check",
        description: "Open to all (no token). Answers once the daemon listens.",
        tags: ["meta"],
        response: { 200: HealthResponse, ...errorsOf([403]) },
      },
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
      schema: {
        summary: "List ports",
        description:
          "Every configured port the token may use: state, serial line, lease, viewers, capabilities.",
        tags: ["ports"],
        response: { 200: PortListResponse, ...errorsOf(AUTH_ERRORS) },
      },
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
      schema: {
        summary: "Describe a port",
        description: "Its state, serial line, writer lease, viewers and BREAK / SysRq / NMI capabilities.",
        tags: ["ports"],
        params: PortParams,
        response: { 200: PortInfoSchema, ...errorsOf(PORT_ERRORS) },
      },
    },
    (request) => describe(app.ports.get(request.params.id)),
  );
};
