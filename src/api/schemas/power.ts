/** POST /ports/:id/power and POST /ports/:id/probe. */
import Type from "typebox";
import { Nullable } from "./common.js";

export const PowerBody = Type.Object(
  {
    action: Type.Union([
      Type.Literal("on"),
      Type.Literal("off"),
      Type.Literal("cycle"),
      Type.Literal("reset"),
    ]),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 600_000,
        default: 120_000,
        description: "how long to wait for the channel and then for the boot banner",
      }),
    ),
  },
  { additionalProperties: false },
);

export const PowerEvidenceSchema = Type.Object(
  {
    channel: Type.Union([
      Type.Literal("qmp"),
      Type.Literal("command"),
      Type.Literal("pdudaemon"),
      Type.Literal("redfish"),
      Type.Literal("ipmi"),
    ]),
    steps: Type.Array(Type.String(), {
      description: "the QMP commands sent, the argv run, or the HTTP requests made",
    }),
    status: Type.Optional(
      Type.String({
        description: "QMP: the VM's status after the action; Redfish: the system's PowerState after off",
      }),
    ),
    reply: Type.Optional(Type.String({ description: "pdudaemon: its answer (the first 4 KiB)" })),
    exitCode: Type.Optional(Type.Integer()),
    stdout: Type.Optional(Type.String({ description: "a command's or ipmitool's output (the first 8 KiB)" })),
    stderr: Type.Optional(Type.String()),
    banner: Nullable(Type.String({ description: "the boot banner that settled on / cycle / reset" })),
    bannerMs: Type.Optional(Type.Number()),
    output: Type.Array(Type.String(), { description: "the last console lines up to the banner (≤ 50)" }),
    reason: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const PowerResponse = Type.Object({
  action: Type.String(),
  verdict: Type.Union([Type.Literal("done"), Type.Literal("no-effect")]),
  evidence: PowerEvidenceSchema,
  ms: Type.Integer({ description: "from the request to the verdict" }),
});

export const ProbeBody = Type.Object(
  {
    probeMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 60_000, default: 2000, description: "each probe's wait" }),
    ),
  },
  { additionalProperties: false },
);

export const ProbeResponse = Type.Object({
  kernel: Type.Union([Type.Literal("alive"), Type.Literal("no-response")]),
  userspace: Type.Union([Type.Literal("responsive"), Type.Literal("unresponsive"), Type.Literal("skipped")]),
  vm: Type.Optional(
    Type.Union([
      Type.Literal("running"),
      Type.Literal("paused"),
      Type.Literal("panicked"),
      Type.Literal("shutdown"),
      Type.Literal("unreachable"),
    ]),
  ),
  evidence: Type.Object({
    kernel: Type.Object({
      verdict: Type.String({ description: "the SysRq h verdict, or not-sent" }),
      line: Nullable(Type.String()),
      reason: Type.Optional(Type.String()),
    }),
    userspace: Type.Object({
      prompt: Type.Optional(Type.String()),
      tail: Type.Optional(Type.String({ description: "the last line printed after the CR" })),
      reason: Type.Optional(Type.String()),
    }),
    vm: Type.Optional(
      Type.Object({ status: Type.Optional(Type.String()), reason: Type.Optional(Type.String()) }),
    ),
  }),
});
