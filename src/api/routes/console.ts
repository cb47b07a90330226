/**
 * GET /ports/:id/console (WebSocket): the live console. Public at the HTTP layer because a browser
 * cannot send an Authorization header on a WebSocket: the session authenticates itself (header or
 * first frame), and the upgrade is refused before it happens for a foreign Origin or Host.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import websocket from "@fastify/websocket";
import { OPEN_ACCESS } from "../auth/principal.js";
import { refuseOrigin } from "../auth/origin.js";
import { ConsoleSession } from "../console/session.js";
import { PortParams } from "../schemas/common.js";
import { ConsoleQuery } from "../schemas/console.js";

const MAX_FRAME_BYTES = 64 * 1024;
export const consoleRoutes: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(websocket, { options: { maxPayload: MAX_FRAME_BYTES } });
  app.get(
    "/ports/:id/console",
    {
      websocket: true,
      config: { access: "public" },
      schema: { params: PortParams, querystring: ConsoleQuery, hide: true },
      preValidation: async (request) => {
        const refused = refuseOrigin(request.headers.origin, request.headers.host, app.tokens.enabled);
        if (refused !== null) throw refused;
        app.ports.get(request.params.id); // 404 before the upgrade
      },
    },
    (socket, request) => {
      const session = new ConsoleSession(
        socket,
        {
          port: app.ports.get(request.params.id),
          hub: app.consoles,
          audit: app.audit,
          log: request.log,
          client: request.ip,
          authenticate: (token) =>
            app.tokens.enabled
              ? app.authFailures.verify(request.ip, () =>
                  app.tokens.verify(token === undefined ? undefined : `Bearer ${token}`),
                )
              : OPEN_ACCESS,
          authEnabled: app.tokens.enabled,
          backlogBytes: request.query.backlog ?? 0,
        },
        request.headers.authorization,
      );
      request.log.debug({ session: session.id }, "console attached");
    },
  );
};
