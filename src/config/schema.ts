/**
 * The config file's JSON schema (the YAML shape is a contract: see docs/configuration.md).
 * Unknown keys are errors. Defaults are applied in load.ts, explicitly typed, not by the validator.
 */
import Type, { type Static, type TSchema } from "typebox";
import { WATCH_KINDS, WEBHOOK_EVENTS } from "./types.js";

export const PORT_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

const strict = { additionalProperties: false } as const;

/** Serial line settings, shared by a local tty and an RFC 2217 terminal server's port. */
const lineSettingFields = {
  baudRate: Type.Optional(Type.Integer({ minimum: 50, maximum: 4_000_000 })),
  dataBits: Type.Optional(Type.Union([Type.Literal(5), Type.Literal(6), Type.Literal(7), Type.Literal(8)])),
  parity: Type.Optional(
    Type.Union([
      Type.Literal("none"),
      Type.Literal("even"),
      Type.Literal("odd"),
      Type.Literal("mark"),
      Type.Literal("space"),
    ]),
  ),
  stopBits: Type.Optional(Type.Union([Type.Literal(1), Type.Literal(1.5), Type.Literal(2)])),
};

export const TtyTransportSchema = Type.Object(
  {
    kind: Type.Literal("tty"),
    path: Type.Optional(
      Type.String({
        minLength: 1,
        description: "device path; links such as /dev/serial/by-id/... are followed on every (re)open",
      }),
    ),
    qmpChardev: Type.Optional(
      Type.String({
        minLength: 1,
        description: "instead of path: the pty of this QEMU chardev, asked of QMP on every (re)open",
      }),
    ),
    ...lineSettingFields,
    rtscts: Type.Optional(Type.Boolean()),
    hupcl: Type.Optional(Type.Boolean()),
    dtr: Type.Optional(
      Type.Boolean({ description: "DTR level set after open and kept through every BREAK" }),
    ),
    rts: Type.Optional(
      Type.Boolean({ description: "RTS level set after open and kept through every BREAK" }),
    ),
    breakMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  strict,
);

export const TelnetTransportSchema = Type.Object(
  {
    kind: Type.Literal("telnet"),
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    path: Type.Optional(Type.String({ minLength: 1, description: "unix socket instead of host/port" })),
    mode: Type.Optional(Type.Union([Type.Literal("qemu"), Type.Literal("standard")])),
  },
  strict,
);

export const Rfc2217TransportSchema = Type.Object(
  {
    kind: Type.Literal("rfc2217"),
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    ...lineSettingFields,
    breakMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  },
  strict,
);

/** How ipmitool reaches a BMC: the same keys for the ipmi-sol transport and ipmi nmi/power. */
const ipmiConnectionFields = {
  host: Type.String({ minLength: 1, maxLength: 253 }),
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: "default 623" })),
  username: Type.String({ minLength: 1, maxLength: 16 }),
  passwordEnv: Type.Optional(Type.String({ minLength: 1 })),
  passwordFile: Type.Optional(Type.String({ minLength: 1 })),
  interface: Type.Optional(Type.Literal("lanplus", { description: "the only one for now" })),
  cipherSuite: Type.Optional(Type.Integer({ minimum: 0, maximum: 17, description: "ipmitool -C" })),
  timeoutMs: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 600_000, description: "each ipmitool run; default 20000" }),
  ),
};

/** A BMC's Serial-over-LAN console through `ipmitool sol activate`. */
export const IpmiSolTransportSchema = Type.Object(
  {
    kind: Type.Literal("ipmi-sol"),
    ...ipmiConnectionFields,
    takeover: Type.Optional(
      Type.Boolean({ description: "sol deactivate before each activate (take the session over)" }),
    ),
  },
  strict,
);

export const ExecTransportSchema = Type.Object(
  {
    kind: Type.Literal("exec"),
    argv: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      maxItems: 256,
      description: "the program and its arguments; no shell, argv[0] looked up on PATH",
    }),
    env: Type.Optional(
      Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), Type.String(), {
        description: "laid over the daemon's environment",
      }),
    ),
    cwd: Type.Optional(Type.String({ minLength: 1 })),
    pty: Type.Optional(
      Type.Boolean({ description: "run the program on a pty (node-pty); stderr is then the pty" }),
    ),
    break: Type.Optional(
      Type.Object(
        {
          sequence: Type.String({
            minLength: 1,
            maxLength: 256,
            description: "conserver's break grammar, in YAML single quotes: '\\035send brk\\r'",
          }),
          delayMs: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1000, description: "what \\d pauses; default 250" }),
          ),
        },
        strict,
      ),
    ),
  },
  strict,
);

type TransportConfigInput =
  | Static<typeof TtyTransportSchema>
  | Static<typeof TelnetTransportSchema>
  | Static<typeof Rfc2217TransportSchema>
  | Static<typeof ExecTransportSchema>
  | Static<typeof IpmiSolTransportSchema>;

/**
 * A discriminated union on `kind`: Ajv's `discriminator` keyword reports "kind must be tty|telnet" or
 * the error inside the matching branch, instead of every branch's errors at once.
 */
export const TransportSchema = Type.Unsafe<TransportConfigInput>({
  type: "object",
  required: ["kind"],
  discriminator: { propertyName: "kind" },
  oneOf: [
    TtyTransportSchema,
    TelnetTransportSchema,
    Rfc2217TransportSchema,
    ExecTransportSchema,
    IpmiSolTransportSchema,
  ] as TSchema[],
});

export const QmpSchema = Type.Object(
  {
    path: Type.Optional(
      Type.String({ minLength: 1, description: "QEMU: -qmp unix:PATH,server=on,wait=off" }),
    ),
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  },
  strict,
);

export const BreakSchema = Type.Object(
  { kind: Type.Literal("qmp"), chardev: Type.String({ minLength: 1 }) },
  strict,
);

export const QmpNmiSchema = Type.Object({ kind: Type.Literal("qmp") }, strict);

/** A BMC's Redfish endpoint and credentials: the same block for `nmi` and `power`. */
export const RedfishSchema = Type.Object(
  {
    kind: Type.Literal("redfish"),
    url: Type.String({ pattern: "^https://", description: "the ComputerSystem resource" }),
    username: Type.String({ minLength: 1 }),
    passwordEnv: Type.Optional(Type.String({ minLength: 1 })),
    passwordFile: Type.Optional(Type.String({ minLength: 1 })),
    auth: Type.Optional(Type.Union([Type.Literal("session"), Type.Literal("basic")])),
    caFile: Type.Optional(Type.String({ minLength: 1 })),
    insecure: Type.Optional(Type.Boolean()),
  },
  strict,
);

/** A BMC over IPMI (ipmitool): the same block for `nmi` (chassis power diag) and `power`. */
export const IpmiSchema = Type.Object({ kind: Type.Literal("ipmi"), ...ipmiConnectionFields }, strict);

export const NmiSchema = Type.Unsafe<
  Static<typeof QmpNmiSchema> | Static<typeof RedfishSchema> | Static<typeof IpmiSchema>
>({
  type: "object",
  required: ["kind"],
  discriminator: { propertyName: "kind" },
  oneOf: [QmpNmiSchema, RedfishSchema, IpmiSchema] as TSchema[],
});

export const QmpPowerSchema = Type.Object({ kind: Type.Literal("qmp") }, strict);

const PowerArgv = Type.Array(Type.String({ minLength: 1 }), {
  minItems: 1,
  maxItems: 64,
  description: "program and arguments, run with no shell",
});

export const CommandPowerSchema = Type.Object(
  {
    kind: Type.Literal("command"),
    on: Type.Optional(PowerArgv),
    off: Type.Optional(PowerArgv),
    cycle: Type.Optional(PowerArgv),
    reset: Type.Optional(PowerArgv),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 600_000, description: "per run; default 30000" }),
    ),
  },
  strict,
);

export const PduDaemonPowerSchema = Type.Object(
  {
    kind: Type.Literal("pdudaemon"),
    url: Type.Optional(
      Type.String({ pattern: "^https?://", description: "the listener; default http://127.0.0.1:16421" }),
    ),
    hostname: Type.String({ minLength: 1, maxLength: 256, description: "the PDU's name in pdudaemon.conf" }),
    outlet: Type.Integer({ minimum: 0, maximum: 65535 }),
    delaySeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3600, description: "between off and on in a reboot; default 5" }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 600_000,
        description: "the HTTP request's deadline; default 30000",
      }),
    ),
  },
  strict,
);

export const PowerSchema = Type.Unsafe<
  | Static<typeof QmpPowerSchema>
  | Static<typeof CommandPowerSchema>
  | Static<typeof PduDaemonPowerSchema>
  | Static<typeof RedfishSchema>
  | Static<typeof IpmiSchema>
>({
  type: "object",
  required: ["kind"],
  discriminator: { propertyName: "kind" },
  oneOf: [QmpPowerSchema, CommandPowerSchema, PduDaemonPowerSchema, RedfishSchema, IpmiSchema] as TSchema[],
});

export const ProbeSchema = Type.Object(
  {
    userspace: Type.Optional(
      Type.Boolean({ description: "probe userspace with a CR (runs whatever sits in the input line)" }),
    ),
    prompt: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: "regex for the shell prompt; default [#$>] ?$",
      }),
    ),
  },
  strict,
);

/** A listener re-exporting a port's console: telnet or RFC 2217, on host:port or a unix socket. */
export const ExportListenerSchema = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    path: Type.Optional(Type.String({ minLength: 1, description: "unix socket instead of host/port" })),
    mode: Type.Optional(Type.Union([Type.Literal("rw"), Type.Literal("ro")])),
    as: Type.Optional(
      Type.String({ minLength: 1, description: "the auth.tokens name whose role and ports clients get" }),
    ),
    allowUnauthenticated: Type.Optional(
      Type.Boolean({ description: "allow an address other machines can reach (clients give no token)" }),
    ),
    notices: Type.Optional(
      Type.Boolean({
        description:
          "greeting and refusals as lines in the stream (default: true for telnet, false for rfc2217)",
      }),
    ),
  },
  strict,
);

export const ExportSchema = Type.Object(
  { telnet: Type.Optional(ExportListenerSchema), rfc2217: Type.Optional(ExportListenerSchema) },
  strict,
);

export const WatchSchema = Type.Union([
  Type.Literal(false),
  Type.Object(
    {
      kinds: Type.Optional(
        Type.Array(Type.Union(WATCH_KINDS.map((kind) => Type.Literal(kind))), { uniqueItems: true }),
      ),
      silenceMs: Type.Optional(
        Type.Integer({
          minimum: 0,
          maximum: 86_400_000,
          description: "no output this long opens `silence`; 0 off",
        }),
      ),
      quietMs: Type.Optional(
        Type.Integer({
          minimum: 1000,
          maximum: 86_400_000,
          description: "an incident closes after this quiet",
        }),
      ),
      patterns: Type.Optional(
        Type.Array(
          Type.Object(
            {
              name: Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$" }),
              match: Type.String({
                minLength: 1,
                maxLength: 1000,
                description: "RE2 syntax, as GET /log?match",
              }),
              severity: Type.Union([Type.Literal("info"), Type.Literal("warning"), Type.Literal("error")]),
            },
            strict,
          ),
          { maxItems: 32 },
        ),
      ),
    },
    strict,
  ),
]);

const RecoverMs = (description: string) => Type.Integer({ minimum: 1, maximum: 3_600_000, description });

/** A ladder step: `probe`, `nmi`, `qemu-dump`, or an object with one key (qemu-dump, sysrq, wait, power, command). */
export const RecoverStepSchema = Type.Union([
  Type.Literal("probe"),
  Type.Literal("nmi"),
  Type.Literal("qemu-dump"),
  Type.Object(
    {
      "qemu-dump": Type.Object(
        { timeoutMs: Type.Optional(RecoverMs("how long QEMU may take to write the dump; default 120000")) },
        strict,
      ),
    },
    strict,
  ),
  Type.Object(
    { sysrq: Type.String({ pattern: "^[0-9A-Za-z]{1,32}$", description: "keys sent one by one" }) },
    strict,
  ),
  Type.Object(
    {
      wait: Type.Object(
        {
          match: Type.Optional(
            Type.String({ minLength: 1, maxLength: 1000, description: "RE2; default the ladder's until" }),
          ),
          timeoutMs: Type.Optional(RecoverMs("default the ladder's untilTimeoutMs")),
        },
        strict,
      ),
    },
    strict,
  ),
  Type.Object(
    {
      power: Type.Union([
        Type.Literal("on"),
        Type.Literal("off"),
        Type.Literal("cycle"),
        Type.Literal("reset"),
      ]),
    },
    strict,
  ),
  Type.Object(
    {
      command: Type.Object(
        {
          argv: Type.Array(Type.String({ minLength: 1 }), {
            minItems: 1,
            maxItems: 64,
            description: "program and arguments, run with no shell",
          }),
          timeoutMs: Type.Optional(RecoverMs("default 30000")),
        },
        strict,
      ),
    },
    strict,
  ),
]);

export const RecoverSchema = Type.Object(
  {
    on: Type.Optional(
      Type.Array(Type.Union(WATCH_KINDS.map((kind) => Type.Literal(kind))), { uniqueItems: true }),
    ),
    until: Type.String({
      minLength: 1,
      maxLength: 1000,
      description: "RE2: the line that shows the target is back (e.g. 'login:|E2E-READY')",
    }),
    untilTimeoutMs: Type.Optional(RecoverMs("wait for until after a restarting step; default 120000")),
    cooldownMs: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 86_400_000, description: "default 60000" }),
    ),
    maxPerHour: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "default 3" })),
    crashKernel: Type.Optional(Type.Boolean({ description: "the default ladder sends c (kdump)" })),
    steps: Type.Optional(Type.Array(RecoverStepSchema, { minItems: 1, maxItems: 32 })),
    probeEveryMs: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 86_400_000,
        description:
          "probe the target this often and start the ladder when it does not answer; 0 (default): off",
      }),
    ),
  },
  strict,
);

export const PortSchema = Type.Object(
  {
    id: Type.String({ pattern: PORT_ID_PATTERN }),
    transport: TransportSchema,
    sysrqMask: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 511, description: "kernel.sysrq meaning; 1 = all" }),
    ),
    queueLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    qmp: Type.Optional(QmpSchema),
    nmi: Type.Optional(NmiSchema),
    power: Type.Optional(PowerSchema),
    probe: Type.Optional(ProbeSchema),
    break: Type.Optional(BreakSchema),
    sysrq: Type.Optional(
      Type.Object({ via: Type.Union([Type.Literal("break"), Type.Literal("keyboard")]) }, strict),
    ),
    export: Type.Optional(ExportSchema),
    allowLineControl: Type.Optional(
      Type.Boolean({
        description:
          "tty ports: RFC 2217 clients' baud and DTR/RTS requests change the device (default false: echoed, not applied)",
      }),
    ),
    watch: Type.Optional(WatchSchema),
    recover: Type.Optional(RecoverSchema),
  },
  strict,
);

export const ROLE_NAMES = ["read", "operate", "admin"] as const;

export const TokenSchema = Type.Object(
  {
    name: Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$", description: "written to the audit" }),
    role: Type.Union(ROLE_NAMES.map((role) => Type.Literal(role))),
    sha256: Type.Optional(
      Type.String({ pattern: "^[0-9a-fA-F]{64}$", description: "hex SHA-256 of the token" }),
    ),
    file: Type.Optional(Type.String({ minLength: 1, description: "a file holding the token" })),
    env: Type.Optional(
      Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$", description: "an environment variable holding it" }),
    ),
    ports: Type.Optional(Type.Array(Type.String({ pattern: PORT_ID_PATTERN }), { uniqueItems: true })),
    sshKeys: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 16384, description: "an authorized_keys line" }), {
        maxItems: 1000,
      }),
    ),
    sshKeysFile: Type.Optional(Type.String({ minLength: 1, description: "an authorized_keys file" })),
  },
  strict,
);

export const AuthSchema = Type.Object({ tokens: Type.Array(TokenSchema) }, strict);

export const AuditSchema = Type.Object(
  {
    file: Type.Optional(Type.String({ minLength: 1 })),
    fsync: Type.Optional(Type.Union([Type.Literal("always"), Type.Literal("interval")])),
  },
  strict,
);

export const RateLimitSchema = Type.Object(
  {
    max: Type.Integer({ minimum: 1, maximum: 1_000_000, description: "requests per token per window" }),
    timeWindowMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
    authFailures: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: "failed authentications per client address per window before it is refused (429)",
      }),
    ),
  },
  strict,
);

export const WebhookSchema = Type.Object(
  {
    url: Type.String({ pattern: "^https?://", maxLength: 2048, description: "http or https; POSTed to" }),
    name: Type.Optional(
      Type.String({
        pattern: PORT_ID_PATTERN,
        description: "metrics label and log field; default the URL's host",
      }),
    ),
    secretEnv: Type.Optional(
      Type.String({
        pattern: "^[A-Za-z_][A-Za-z0-9_]*$",
        description: "environment variable with the HMAC key",
      }),
    ),
    secretFile: Type.Optional(Type.String({ minLength: 1, description: "file holding the HMAC key" })),
    events: Type.Optional(
      Type.Array(Type.Union(WEBHOOK_EVENTS.map((name) => Type.Literal(name))), {
        minItems: 1,
        uniqueItems: true,
        description: "event types to send (GET /events' names); default all",
      }),
    ),
    timeoutMs: Type.Optional(
      Type.Integer({ minimum: 100, maximum: 120_000, description: "one request's deadline; default 5000" }),
    ),
    retry: Type.Optional(
      Type.Object(
        {
          initialMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
          maxMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 86_400_000 })),
          forMs: Type.Optional(
            Type.Integer({
              minimum: 1000,
              maximum: 30 * 86_400_000,
              description: "give up after; default 24 h",
            }),
          ),
        },
        strict,
      ),
    ),
    maxPending: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100_000, description: "deliveries kept waiting; default 1000" }),
    ),
  },
  strict,
);

export const ConfigSchema = Type.Object(
  {
    listen: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String({ minLength: 1 })),
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          tls: Type.Optional(
            Type.Object({ cert: Type.String({ minLength: 1 }), key: Type.String({ minLength: 1 }) }, strict),
          ),
        },
        strict,
      ),
    ),
    ssh: Type.Optional(
      Type.Object(
        {
          host: Type.Optional(Type.String({ minLength: 1 })),
          port: Type.Integer({ minimum: 0, maximum: 65535 }),
          hostKeyFile: Type.Optional(Type.String({ minLength: 1 })),
        },
        strict,
      ),
    ),
    auth: Type.Optional(AuthSchema),
    audit: Type.Optional(AuditSchema),
    rateLimit: Type.Optional(RateLimitSchema),
    captureDir: Type.Optional(Type.String({ minLength: 1 })),
    lockDir: Type.Optional(
      Type.Union([Type.String({ minLength: 1 }), Type.Literal(false)], {
        description: "UUCP lock files for ttys (default /var/lock); false for none",
      }),
    ),
    capture: Type.Optional(
      Type.Object(
        {
          rotateBytes: Type.Optional(
            Type.Integer({
              minimum: 4096,
              maximum: 2 ** 40,
              description: "close a raw segment at this size",
            }),
          ),
          maxTotalBytes: Type.Optional(
            Type.Integer({
              minimum: 8192,
              maximum: 2 ** 50,
              description: "raw bytes kept per port; the oldest segments are deleted (and logged)",
            }),
          ),
        },
        strict,
      ),
    ),
    log: Type.Optional(
      Type.Object(
        {
          level: Type.Optional(
            Type.Union(
              ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
            ),
          ),
        },
        strict,
      ),
    ),
    retainLines: Type.Optional(
      Type.Integer({
        minimum: 100,
        maximum: 1_000_000,
        description: "console lines kept in memory per port for GET /log",
      }),
    ),
    ports: Type.Array(PortSchema, { minItems: 1 }),
    webhooks: Type.Optional(Type.Array(WebhookSchema, { maxItems: 32 })),
  },
  strict,
);

export type ConfigInput = Static<typeof ConfigSchema>;
export type PortInput = Static<typeof PortSchema>;
