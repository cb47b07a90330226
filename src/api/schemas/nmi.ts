/** POST /ports/:id/nmi. */
import Type from "typebox";

export const NmiBody = Type.Object(
  { timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, default: 3000 })) },
  { additionalProperties: false },
);

export const NmiResponse = Type.Object({
  port: Type.String(),
  verdict: Type.Union([Type.Literal("acknowledged"), Type.Literal("panic"), Type.Literal("no-response")]),
  line: Type.Union([Type.String(), Type.Null()]),
  latencyMs: Type.Union([Type.Number(), Type.Null()]),
  output: Type.Array(Type.String()),
  reason: Type.Optional(Type.String()),
});
