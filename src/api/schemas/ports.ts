/** GET /ports, /ports/:id and /healthz. */
import Type from "typebox";
import { Nullable } from "./common.js";

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
  kind: Type.Union([
    Type.Literal("tty"),
    Type.Literal("telnet"),
    Type.Literal("rfc2217"),
    Type.Literal("exec"),
    Type.Literal("ipmi-sol"),
  ]),
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
  health: Type.Union([Type.Literal("good"), Type.Literal("recovering"), Type.Literal("bad")], {
    description: "recovering while a recovery ladder runs; bad while quarantined (docs/recovery.md)",
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
    power: Type.Object({
      available: Type.Boolean(),
      method: Type.Optional(Type.String({ description: "qmp, command, pdudaemon, redfish or ipmi" })),
      actions: Type.Optional(Type.Array(Type.String(), { description: "the actions POST /power takes" })),
      reason: Type.Optional(Type.String()),
    }),
    recover: Type.Object(
      {
        configured: Type.Boolean({
          description: "whether the port has a recover block (POST /recover runs)",
        }),
        steps: Type.Optional(
          Type.Array(Type.String(), {
            description: "the ladder's steps as incidents name them (the default ladder built for this port)",
          }),
        ),
        on: Type.Optional(Type.Array(Type.String(), { description: "incident kinds that start it" })),
      },
      { description: "the recovery ladder (docs/recovery.md)" },
    ),
  }),
});

export const PortListResponse = Type.Array(PortInfoSchema);

export const HealthResponse = Type.Object({ status: Type.Literal("ok") });
