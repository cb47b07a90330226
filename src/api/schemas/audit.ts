/** GET /audit: the audit log's records. */
import Type from "typebox";
import { PORT_ID_PATTERN } from "../../config/schema.js";

export const AuditQuery = Type.Object(
  {
    since: Type.Optional(Type.Integer({ minimum: 1, description: "the first record's seq" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
    port: Type.Optional(Type.String({ pattern: PORT_ID_PATTERN })),
  },
  { additionalProperties: false },
);

export const AuditResponse = Type.Object({
  entries: Type.Array(
    Type.Object(
      {
        seq: Type.Integer(),
        ts: Type.String(),
        requestId: Type.String(),
        token: Type.String(),
        client: Type.String(),
        action: Type.String(),
        port: Type.Optional(Type.String()),
        status: Type.Integer(),
        code: Type.Optional(Type.String()),
      },
      { additionalProperties: true },
    ),
  ),
  next: Type.Integer({ description: "pass as since to read on" }),
});
