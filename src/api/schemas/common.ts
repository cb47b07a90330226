/**
 * What every route's schema uses: the port id parameter, the error body, and which error statuses a
 * route answers. Each resource's own schemas are in the file named for it (TypeBox: one source for
 * types and schema; test/unit/api/schema-meta.test.ts checks every file of this folder).
 */
import Type from "typebox";
import { PORT_ID_PATTERN } from "../../config/schema.js";

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
  Type.Union([schema, Type.Null()]);

export const PortParams = Type.Object(
  { id: Type.String({ pattern: PORT_ID_PATTERN }) },
  { additionalProperties: false },
);

export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    code: Type.String(),
    error: Type.String(),
    message: Type.String(),
  },
  { additionalProperties: true },
);

/** What each error status means on any route; a route adds what its own 409 or 429 is. */
const ERROR_MEANINGS = {
  400: "invalid request; the message and `field` name the offending field (VALIDATION, INVALID_KEY)",
  401: "no bearer token, or not a known one (UNAUTHORIZED)",
  403: "the token's role or ports do not allow this (FORBIDDEN, KEY_NOT_ALLOWED), or, without tokens, a non-loopback Host or foreign Origin (HOST_NOT_ALLOWED, ORIGIN_NOT_ALLOWED)",
  404: "no port with this id (PORT_NOT_FOUND)",
  409: "the port's state refuses this",
  410: "the bytes asked for were deleted by rotation (CAPTURE_ROTATED)",
  413: "the body is too large (PAYLOAD_TOO_LARGE)",
  415: "the body is not application/json (UNSUPPORTED_MEDIA_TYPE)",
  416: "the offset is past the end of the capture (CAPTURE_OFFSET_PAST_END)",
  429: "too many requests from this token or address (RATE_LIMITED); see Retry-After",
  502: "the NMI method failed (NMI_FAILED)",
  503: "the port is not connected (PORT_UNAVAILABLE, retry after Retry-After) or the audit log cannot be written (AUDIT_UNAVAILABLE)",
  504: "the wire did not complete the operation in time; the link was reset (WIRE_TIMEOUT)",
} as const;

export type ErrorStatus = keyof typeof ERROR_MEANINGS;

/**
 * A route's error responses: exactly the statuses it can answer, each described (the OpenAPI document
 * lists them; test/integration/openapi-metrics.test.ts checks the lists against what routes do).
 */
export function errorsOf<S extends ErrorStatus>(
  statuses: readonly S[],
  meanings: Partial<Record<S, string>> = {},
): Record<S, typeof ErrorResponse> {
  const entries = statuses.map((status) => [
    status,
    Type.Object(ErrorResponse.properties, {
      additionalProperties: true,
      description: meanings[status] ?? ERROR_MEANINGS[status],
    }),
  ]);
  return Object.fromEntries(entries) as Record<S, typeof ErrorResponse>;
}

/** 429 on a route that queues work on the port. */
export const QUEUE_OR_RATE =
  "the port's queue is full (QUEUE_FULL) or too many requests from this token or address (RATE_LIMITED); see Retry-After";

/** Refusals any authenticated route can answer (token, role or Host, rate limit). */
export const AUTH_ERRORS = [401, 403, 429] as const;
/** Routes under /ports/:id: a malformed or unknown id. */
export const PORT_ERRORS = [400, 404, ...AUTH_ERRORS] as const;
/** Routes with a JSON body. */
export const BODY_ERRORS = [400, 413, 415] as const;
