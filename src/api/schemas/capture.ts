/** GET /ports/:id/capture: raw captured bytes by absolute offset. */
import Type from "typebox";

export const MAX_CAPTURE_READ_BYTES = 4 * 1024 * 1024;

export const CaptureQuery = Type.Object(
  {
    offset: Type.Optional(
      Type.Integer({ minimum: 0, description: "absolute offset of the first byte; default the oldest kept" }),
    ),
    length: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_CAPTURE_READ_BYTES, default: 1024 * 1024 }),
    ),
  },
  { additionalProperties: false },
);

/** Sent as application/octet-stream; fastify never serialises a Buffer payload. */
export const CaptureBytes = Type.Unsafe<Buffer>({ description: "raw capture bytes" });
