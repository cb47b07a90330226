/** POST /ports/:id/write: bytes to the console. */
import Type from "typebox";

const LeaseIdField = Type.Optional(
  Type.String({ minLength: 1, maxLength: 64, description: "the caller's writer lease, if it holds one" }),
);

/** A write waits for the paced line at most this long before 429 QUEUE_FULL. */
const WriteTimeoutField = Type.Optional(
  Type.Integer({
    minimum: 1,
    maximum: 60_000,
    description:
      "how long the write may wait to start (writes are paced at the line rate); then 429 QUEUE_FULL (default 5000)",
  }),
);

/** Exactly one of data (UTF-8 text) or base64 (raw bytes), at most 64 KiB once decoded. */
export const WriteBody = Type.Union([
  Type.Object(
    {
      data: Type.String({ minLength: 1, maxLength: 65_536 }),
      leaseId: LeaseIdField,
      timeoutMs: WriteTimeoutField,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      base64: Type.String({ minLength: 1, maxLength: 87_384, pattern: "^[A-Za-z0-9+/]*={0,2}$" }),
      leaseId: LeaseIdField,
      timeoutMs: WriteTimeoutField,
    },
    { additionalProperties: false },
  ),
]);

export const WriteResponse = Type.Object({ port: Type.String(), bytes: Type.Integer() });
