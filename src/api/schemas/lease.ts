/** POST and DELETE /ports/:id/lease: the writer lease over plain HTTP. */
import Type from "typebox";

export const LeaseBody = Type.Object(
  {
    ttlMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000, default: 60_000 })),
    takeover: Type.Optional(Type.Boolean({ description: "admin only: take the lease from its holder" })),
  },
  { additionalProperties: false },
);

export const LeaseResponse = Type.Object({
  leaseId: Type.String(),
  holder: Type.String(),
  via: Type.String(),
  expiresAt: Type.Union([Type.String(), Type.Null()]),
});

export const ReleaseBody = Type.Object(
  { leaseId: Type.String({ minLength: 1, maxLength: 64 }) },
  { additionalProperties: false },
);

export const ReleaseResponse = Type.Object({ released: Type.Boolean() });
