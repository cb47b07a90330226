/** POST /ports/:id/sysrq (JSON or NDJSON answer) and POST /ports/:id/break. */
import Type from "typebox";
import { Nullable } from "./common.js";

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
    description:
      "tty-ioctl, rfc2217-set-control, telnet-brk, qmp-chardev-send-break, exec-sequence or ipmi-sol",
  }),
});
