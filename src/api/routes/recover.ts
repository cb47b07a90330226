import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { principalOf } from "../auth/install-auth.js";
import { BODY_ERRORS, PORT_ERRORS, PortParams, errorsOf } from "../schemas/common.js";
import { QuarantineResponse, RecoverBody, RecoverResponse } from "../schemas/recover.js";
import { emptyBodyIsDefaults } from "../validation.js";

export const recoverRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/recover",
    {
      config: { access: "admin", audit: "recover-request" },
      preValidation: emptyBodyIsDefaults,
      schema: {
        summary: "Run the port's recovery ladder",
        description:
          "Admin only. Starts the port's `recover:` ladder and answers 202 at once with the incident its steps " +
          "are recorded on (GET /incidents/:id follows them; `outcome` appears when it ends). While a ladder " +
          "runs, the answer is its incident: nothing new starts.",
        tags: ["recovery"],
        params: PortParams,
        body: RecoverBody,
        response: {
          202: RecoverResponse,
          ...errorsOf([...PORT_ERRORS, ...BODY_ERRORS, 409, 503], {
            409: "the port has no recover block (RECOVERY_UNCONFIGURED) or is quarantined (PORT_QUARANTINED)",
          }),
        },
      },
    },
    async (request, reply) => {
      const incident = app.recovery.trigger(request.params.id, principalOf(request).name);
      request.auditDetail = { incident: incident.id };
      return reply.code(202).send({ incident });
    },
  );

  app.delete(
    "/ports/:id/quarantine",
    {
      config: { access: "admin", audit: "quarantine-lift" },
      schema: {
        summary: "Lift a port's quarantine",
        description:
          "Admin only. A port that ran more than recover.maxPerHour ladders in an hour is quarantined (health " +
          "bad): no automatic action until this. The hour's count starts again.",
        tags: ["recovery"],
        params: PortParams,
        response: { 200: QuarantineResponse, ...errorsOf([...PORT_ERRORS, 503]) },
      },
    },
    (request) => {
      const lifted = app.recovery.lift(request.params.id);
      request.auditDetail = { lifted };
      return { lifted, health: app.recovery.health(request.params.id) };
    },
  );
};
