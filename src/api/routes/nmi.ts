import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BODY_ERRORS, PORT_ERRORS, PortParams, QUEUE_OR_RATE, errorsOf } from "../schemas/common.js";
import { NmiBody, NmiResponse } from "../schemas/nmi.js";
import { emptyBodyIsDefaults } from "../validation.js";

export const nmiRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/nmi",
    {
      config: { access: "admin", audit: "nmi" },
      preValidation: emptyBodyIsDefaults,
      schema: {
        summary: "Inject an NMI",
        description:
          "Admin only. Injects an NMI through the port's control channel (QMP, Redfish, IPMI) and reports the kernel's " +
          "verdict from its console: acknowledged, panic or no-response. A body is optional.",
        tags: ["sysrq"],
        params: PortParams,
        body: NmiBody,
        response: {
          200: NmiResponse,
          ...errorsOf([...PORT_ERRORS, ...BODY_ERRORS, 409, 502, 503], {
            409: "the port has no NMI method (NMI_UNSUPPORTED); the message says how to configure one",
            429: QUEUE_OR_RATE,
          }),
        },
      },
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
