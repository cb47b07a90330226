/** GET /incidents, GET /incidents/:id: what the crash watcher found (src/recovery/incidents.ts). */
import type { Readable } from "node:stream";
import Type from "typebox";
import { PORT_ID_PATTERN } from "../../config/schema.js";
import { INCIDENT_KINDS } from "../../config/types.js";

export const IncidentQuery = Type.Object(
  {
    port: Type.Optional(Type.String({ pattern: PORT_ID_PATTERN })),
    since: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 1e12,
        description: "an earlier answer's `next`: only newer incidents",
      }),
    ),
    state: Type.Optional(Type.Union([Type.Literal("open"), Type.Literal("closed")])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 100 })),
  },
  { additionalProperties: false },
);

export const IncidentParams = Type.Object(
  { id: Type.String({ pattern: "^[0-9]{1,12}$" }) },
  { additionalProperties: false },
);

const Kind = Type.String({ enum: [...INCIDENT_KINDS] });

export const IncidentSchema = Type.Object({
  id: Type.String(),
  port: Type.String(),
  kinds: Type.Array(Kind),
  state: Type.Union([Type.Literal("open"), Type.Literal("closed")]),
  opened: Type.String({ description: "ISO time" }),
  closed: Type.Optional(Type.String()),
  trigger: Type.Object({
    line: Type.String(),
    seq: Type.Integer({ description: "the line's seq in GET /ports/:id/log" }),
    offset: Type.Integer({ description: "the line's capture byte offset" }),
  }),
  report: Type.Array(Type.String()),
  context: Type.Array(Type.String(), { description: "the lines before the trigger" }),
  steps: Type.Array(
    Type.Object({
      step: Type.String(),
      verdict: Type.String(),
      output: Type.Array(Type.String()),
      startedAt: Type.String(),
      ms: Type.Number(),
    }),
  ),
  outcome: Type.Optional(
    Type.Union([
      Type.Literal("recovered"),
      Type.Literal("failed"),
      Type.Literal("quarantined"),
      Type.Literal("observed"),
    ]),
  ),
  spans: Type.Array(
    Type.Object(
      { kind: Kind, start: Type.Integer(), end: Type.Integer() },
      { description: "capture offsets [start, end)" },
    ),
  ),
  patterns: Type.Array(Type.Object({ name: Type.String(), severity: Type.String() })),
  truncated: Type.Boolean({ description: "the report hit its bound; the rest is in the raw capture" }),
  follows: Type.Optional(
    Type.String({
      description: "the incident whose ladder restarted the target into this failure (a new boot's failure)",
    }),
  ),
  events: Type.Optional(
    Type.Array(
      Type.Object({
        event: Type.String({ description: "GUEST_PANICKED, STOP, RESET, SHUTDOWN or DUMP_COMPLETED" }),
        at: Type.String({ description: "QEMU's timestamp, ISO" }),
        data: Type.Optional(Type.Unknown()),
      }),
      { description: "QMP events while the incident was open, in QEMU's order (at most 64)" },
    ),
  ),
  raw: Type.Optional(
    Type.Object(
      {
        rotatedAt: Type.String({
          description: "ISO time the daemon saw them go (a rotation, or a start-up)",
        }),
        firstRetained: Type.Integer({ description: "the capture's oldest offset then" }),
        whole: Type.Boolean({ description: "every byte it points at is gone (false: only its start)" }),
      },
      { description: "present once rotation deleted raw segments the incident's offsets point into" },
    ),
  ),
});

export const IncidentDump = Type.Unsafe<Readable>({ description: "kdump-compressed guest memory" });

export const IncidentListResponse = Type.Object({
  incidents: Type.Array(IncidentSchema),
  next: Type.Integer({ description: "pass as since to see only incidents after these" }),
});
