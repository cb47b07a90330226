import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import {
  BreakBody,
  BreakResponse,
  PortParams,
  SysrqBody,
  SysrqResponse,
  errorResponses,
} from "../schemas.js";

export const sysrqRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/sysrq",
    { schema: { params: PortParams, body: SysrqBody, response: { 200: SysrqResponse, ...errorResponses } } },
    async (request) => {
      const port = app.ports.get(request.params.id);
      const { keys, timeoutMs = 3000, settleMs = 100, breakMs } = request.body;
      const results = await port.sysrq({
        keys,
        timeoutMs,
        settleMs,
        ...(breakMs === undefined ? {} : { breakMs }),
      });
      return { port: port.id, results };
    },
  );

  app.post(
    "/ports/:id/break",
    { schema: { params: PortParams, body: BreakBody, response: { 200: BreakResponse, ...errorResponses } } },
    async (request) => {
      const port = app.ports.get(request.params.id);
      const sent = await port.sendBreak(request.body?.breakMs);
      return { port: port.id, ...sent };
    },
  );
};
