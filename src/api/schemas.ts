/** JSON schemas of every route's params, body and responses (TypeBox: one source for types and schema). */
import Type from "typebox";
import { PORT_ID_PATTERN } from "../config/schema.js";

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) =>
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

export const BreakCapabilitySchema = Type.Object({
  available: Type.Boolean(),
  method: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
});

export const LeaseInfoSchema = Type.Union([
  Type.Object({
    holder: Type.String(),
    via: Type.String(),
    expiresAt: Type.Union([Type.String(), Type.Null()]),
  }),
  Type.Null(),
]);

export const PortInfoSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal("tty"), Type.Literal("telnet"), Type.Literal("rfc2217")]),
  target: Type.String(),
  state: Type.Union([
    Type.Literal("open"),
    Type.Literal("connecting"),
    Type.Literal("closed"),
    Type.Literal("locked"),
  ]),
  reason: Type.Optional(Type.String()),
  lockedBy: Type.Optional(
    Type.Object(
      { pid: Type.Integer(), command: Type.Optional(Type.String()) },
      { description: "while locked: the other program whose UUCP lock file holds the tty" },
    ),
  ),
  capture: Type.Object(
    {
      status: Type.Union([Type.Literal("ok"), Type.Literal("degraded")]),
      reason: Type.Optional(
        Type.String({ description: "while degraded: the error the disk answers (ENOSPC, EROFS, ...)" }),
      ),
      lostBytes: Type.Integer({
        description: "bytes read but not stored since the daemon started (gaps in the index)",
      }),
    },
    { description: "whether the capture stores every byte; the port's state is unaffected" },
  ),
  line: Nullable(
    Type.Object(
      {
        baudRate: Type.Integer(),
        dataBits: Type.Integer(),
        parity: Type.Union([
          Type.Literal("none"),
          Type.Literal("even"),
          Type.Literal("odd"),
          Type.Literal("mark"),
          Type.Literal("space"),
        ]),
        stopBits: Type.Number(),
        flowControl: Type.Optional(Type.Union([Type.Literal("none"), Type.Literal("rtscts")])),
        dtr: Type.Optional(Type.Boolean()),
        rts: Type.Optional(Type.Boolean()),
        source: Type.Union([Type.Literal("device"), Type.Literal("config")], {
          description:
            "device: the open tty as it is now; config: as configured (not open, or asked of an RFC 2217 server)",
        }),
        allowLineControl: Type.Boolean({
          description: "whether RFC 2217 clients' baud and DTR/RTS requests are applied to the tty",
        }),
      },
      { description: "the serial line's real settings; null for a telnet port (no serial line of its own)" },
    ),
  ),
  lease: LeaseInfoSchema,
  viewers: Type.Integer({
    description: "console clients attached: WebSocket viewers and telnet / RFC 2217 connections",
  }),
  capabilities: Type.Object({
    break: BreakCapabilitySchema,
    sysrq: Type.Object({
      available: Type.Boolean(),
      method: Type.Union([Type.Literal("break"), Type.Literal("keyboard")]),
    }),
    nmi: Type.Object({
      available: Type.Boolean(),
      method: Type.Optional(Type.String()),
      reason: Type.Optional(Type.String()),
    }),
  }),
});

export const SysrqBody = Type.Object(
  {
    keys: Type.String({
      pattern: "^[0-9A-Za-z]{1,32}$",
      description: "SysRq keys, case-sensitive, sent one BREAK per key",
    }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, default: 3000 })),
    settleMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 10_000, default: 100 })),
    breakMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  { additionalProperties: false },
);

export const KeyResultSchema = Type.Object({
  key: Type.String(),
  verdict: Type.Union([
    Type.Literal("acknowledged"),
    Type.Literal("disabled"),
    Type.Literal("unsupported"),
    Type.Literal("no-response"),
    Type.Literal("skipped"),
  ]),
  action: Type.Optional(Type.String()),
  line: Type.Optional(Nullable(Type.String())),
  latencyMs: Type.Optional(Nullable(Type.Number())),
  output: Type.Optional(Type.Array(Type.String())),
  needsBit: Type.Optional(Nullable(Type.Integer())),
  hint: Type.Optional(Type.String()),
  supported: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
  note: Type.Optional(Type.String()),
  sentAt: Type.Optional(Type.String({ description: "no-response: when the BREAK and key went out" })),
  mayStillAct: Type.Optional(
    Type.Boolean({ description: "no-response: the key was sent and may still run when the target resumes" }),
  ),
  completion: Type.Optional(
    Type.Object({ line: Nullable(Type.String()), latencyMs: Nullable(Type.Number()) }),
  ),
  after: Type.Optional(
    Type.Object({ event: Type.String(), line: Nullable(Type.String()), disconnected: Type.Boolean() }),
  ),
});

export const SysrqResponse = Type.Object({ port: Type.String(), results: Type.Array(KeyResultSchema) });

/** A line of POST /ports/:id/sysrq's application/x-ndjson answer: a key's result, or the error that ended it. */
export const SysrqStreamLine = Type.Union([
  KeyResultSchema,
  Type.Object(
    { error: Type.Object({ code: Type.String(), message: Type.String() }) },
    { description: "the last line when the link failed after the first key" },
  ),
]);

export const BreakBody = Type.Object(
  { breakMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })) },
  { additionalProperties: false },
);

export const BreakResponse = Type.Object({
  port: Type.String(),
  breakMs: Type.Optional(
    Type.Integer({
      description:
        "how long the line was held in break; absent for telnet-brk and qmp-chardev-send-break, whose length the far end decides",
    }),
  ),
  method: Type.String({
    description: "tty-ioctl, rfc2217-set-control, telnet-brk or qmp-chardev-send-break",
  }),
});

/** The largest tail= a GET /log answers. */
export const MAX_LOG_TAIL = 1000;

export const LogQuery = Type.Object(
  {
    since: Type.Optional(
      Type.Integer({
        minimum: 0,
        description:
          "the first line's seq (pass the previous answer's next); past the current end it is the end. " +
          "Absent: the oldest retained line, or with waitMs the current end (only lines printed after the call)",
      }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
    waitMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 120_000,
        description: "long-poll: wait up to this long for a (matching) line at or after since",
      }),
    ),
    match: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description:
          "RE2 regular expression a line must match. In a query string + means a space: encode it as %2B",
      }),
    ),
    tail: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: MAX_LOG_TAIL,
        description: "the last N lines and the current next, in one call; not with since, waitMs or match",
      }),
    ),
  },
  { additionalProperties: false },
);

export const LogResponse = Type.Object({
  lines: Type.Array(Type.Object({ seq: Type.Integer(), ts: Type.String(), text: Type.String() })),
  next: Type.Integer({ description: "pass as since to read on (the current end when no line was left)" }),
});

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

/** Exactly one of data (UTF-8 text) or base64 (raw bytes), at most 64 KiB once decoded. */
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
