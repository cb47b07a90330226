/**
 * The one error type of sysrq-bridge: a stable string code (part of the API contract, in the style of
 * fastify's FST_ERR_* table), the HTTP status it maps to, and a message that says what to fix.
 * Lower layers throw these without knowing about HTTP; the API layer only serialises them.
 */
export const ErrorCodes = {
  PORT_NOT_FOUND: 404,
  INCIDENT_NOT_FOUND: 404,
  /** GET /incidents/:id/dump of an incident whose ladder wrote no memory dump. */
  DUMP_NOT_FOUND: 404,
  INVALID_KEY: 400,
  VALIDATION: 400,
  MALFORMED_REQUEST: 400,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  ROUTE_NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  HOST_NOT_ALLOWED: 403,
  ORIGIN_NOT_ALLOWED: 403,
  QUEUE_FULL: 429,
  /** A re-export client's BREAK that could not start within its wait: the port stayed busy (audited). */
  QUEUE_BUSY: 503,
  RATE_LIMITED: 429,
  /** GET /events beyond the streams one token, or the daemon, may hold open. */
  TOO_MANY_STREAMS: 429,
  UNSUPPORTED_MEDIA_TYPE: 415,
  KEY_NOT_ALLOWED: 403,
  BREAK_UNSUPPORTED: 409,
  SYSRQ_ARMED: 409,
  LEASE_HELD: 409,
  LEASE_REQUIRED: 409,
  NMI_UNSUPPORTED: 409,
  NMI_FAILED: 502,
  POWER_UNSUPPORTED: 409,
  /** Another power action on this port has not been answered yet. */
  POWER_BUSY: 409,
  POWER_FAILED: 502,
  /** POST /ports/:id/recover on a port without a `recover:` block (no consent to a ladder). */
  RECOVERY_UNCONFIGURED: 409,
  /** The port ran more than recover.maxPerHour ladders: DELETE /ports/:id/quarantine first. */
  PORT_QUARANTINED: 409,
  PORT_UNAVAILABLE: 503,
  /** The daemon began stopping while the request worked (a power action cut short). */
  SHUTTING_DOWN: 503,
  AUDIT_UNAVAILABLE: 503,
  TOO_MANY_CONNECTIONS: 503,
  CAPTURE_ROTATED: 410,
  CAPTURE_LOST: 410,
  CAPTURE_OFFSET_PAST_END: 416,
  WIRE_TIMEOUT: 504,
  CONFIG_INVALID: 400,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class BridgeError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  /** Extra fields for the JSON error body (never internals). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BridgeError";
    this.code = code;
    this.statusCode = ErrorCodes[code];
    this.details = options?.details;
  }
}
