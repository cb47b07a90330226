/** GET /ports/:id/console (WebSocket): the upgrade request's query. */
import Type from "typebox";

const MAX_BACKLOG_BYTES = 1024 * 1024;

export const ConsoleQuery = Type.Object(
  {
    backlog: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_BACKLOG_BYTES, description: "bytes of earlier output first" }),
    ),
  },
  { additionalProperties: false },
);
