import type { BreakStep } from "./break-sequence.js";

/** The configuration after validation, with every default applied and every path absolute. */

/** How the telnet transport speaks: QEMU's chardev (no negotiation) or a standard telnet server. */
export type TelnetMode = "qemu" | "standard";

/** A serial line's speed and framing: as configured, as a tty has it, as RFC 2217 sets it. */
export interface SerialSettings {
  readonly baudRate: number;
  readonly dataBits: 5 | 6 | 7 | 8;
  readonly parity: "none" | "even" | "odd" | "mark" | "space";
  readonly stopBits: 1 | 1.5 | 2;
}

export interface TtyTransportConfig extends Omit<SerialSettings, "parity"> {
  readonly kind: "tty";
  /** serialport's Linux binding has no mark or space parity. */
  readonly parity: "none" | "even" | "odd";
  /** The device, or the pty QMP names for this chardev id (looked up on every open). */
  readonly device: { readonly path: string } | { readonly qmpChardev: string };
  readonly rtscts: boolean;
  readonly hupcl: boolean;
  readonly dtr: boolean;
  readonly rts: boolean;
  /** Where UUCP lock files (LCK..ttyS0) are taken; null to take none. */
  readonly lockDir: string | null;
}

export type TelnetEndpoint = { readonly host: string; readonly port: number } | { readonly path: string };

export interface TelnetTransportConfig {
  readonly kind: "telnet";
  readonly endpoint: TelnetEndpoint;
  readonly mode: TelnetMode;
}

/** A terminal server speaking RFC 2217: telnet (standard mode) plus serial line control. */
export interface Rfc2217TransportConfig {
  readonly kind: "rfc2217";
  readonly endpoint: TelnetEndpoint;
  readonly line: SerialSettings;
}

/** A console behind a program: its stdin/stdout, or a pty (transports/exec.ts). */
export interface ExecTransportConfig {
  readonly kind: "exec";
  /** No shell: argv[0] is looked up on PATH. */
  readonly argv: readonly string[];
  /** Laid over the daemon's environment; never shown in GET /ports or logs. */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  readonly pty: boolean;
  /** What the program turns into a BREAK (conserver's grammar, config/break-sequence.ts). */
  readonly break?: { readonly steps: readonly BreakStep[]; readonly delayMs: number };
}

/** A BMC's Serial-over-LAN through `ipmitool sol activate` (transports/ipmi-sol.ts); IPMI keys as for nmi/power. */
export interface IpmiSolTransportConfig extends Omit<IpmiConfig, "kind"> {
  readonly kind: "ipmi-sol";
  /** `sol deactivate` before each activate: take the single SOL session from whoever holds it. */
  readonly takeover: boolean;
}

export type TransportConfig =
  | TtyTransportConfig
  | TelnetTransportConfig
  | Rfc2217TransportConfig
  | ExecTransportConfig
  | IpmiSolTransportConfig;

export type QmpEndpointConfig = { readonly path: string } | { readonly host: string; readonly port: number };

/** A BMC's Redfish API (control/redfish.ts), for NMI and power alike; the password read from env or file. */
export interface RedfishConfig {
  readonly kind: "redfish";
  /** The ComputerSystem resource, e.g. https://bmc7.lab/redfish/v1/Systems/1 */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly auth: "session" | "basic";
  readonly ca?: Buffer;
  readonly insecure: boolean;
}

/** A BMC over IPMI, driven through ipmitool (control/ipmitool.ts), for NMI and power; the password read from env or file. */
export interface IpmiConfig {
  readonly kind: "ipmi";
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly interface: "lanplus";
  readonly cipherSuite?: number;
  /** Each ipmitool run's deadline. */
  readonly timeoutMs: number;
  /** The program (tests point it elsewhere; the config has no key for it). */
  readonly ipmitool: string;
}

/** How NMIs reach this port's target; absent when none is configured. */
export type NmiConfig = { readonly kind: "qmp" } | RedfishConfig | IpmiConfig;

/** Power through a program per action (argv, no shell), each run bounded by timeoutMs. */
export interface CommandPowerConfig {
  readonly kind: "command";
  readonly on?: readonly string[];
  readonly off?: readonly string[];
  readonly cycle?: readonly string[];
  readonly reset?: readonly string[];
  readonly timeoutMs: number;
}

/** Power through a pdudaemon (LAVA's PDU daemon) HTTP listener: one outlet of a PDU it knows. */
export interface PduDaemonPowerConfig {
  readonly kind: "pdudaemon";
  /** The listener's base URL, e.g. http://127.0.0.1:16421 */
  readonly url: string;
  /** The PDU's name in pdudaemon.conf. */
  readonly hostname: string;
  readonly outlet: number;
  /** pdudaemon's pause between off and on in a reboot. */
  readonly delaySeconds: number;
  /** The whole HTTP request's deadline. */
  readonly timeoutMs: number;
}

/** How this port's target is powered (control/power-*.ts); absent when it cannot be. */
export type PowerConfig =
  { readonly kind: "qmp" } | CommandPowerConfig | PduDaemonPowerConfig | RedfishConfig | IpmiConfig;

/** What POST /ports/:id/probe may do besides BREAK + h. */
export interface ProbeConfig {
  /** Send a CR when no one holds the writer lease and wait for a shell prompt (it runs what sits in the input line). */
  readonly userspace: boolean;
  /** The prompt that proves userspace answers, matched against the last line printed after the CR. */
  readonly prompt: string;
}

export const DEFAULT_PROBE_PROMPT = "[#$>] ?$";
export const DEFAULT_POWER_COMMAND_TIMEOUT_MS = 30_000;
export const DEFAULT_PDUDAEMON_URL = "http://127.0.0.1:16421";
export const DEFAULT_PDUDAEMON_DELAY_S = 5;
export const DEFAULT_PDUDAEMON_TIMEOUT_MS = 30_000;
export const DEFAULT_IPMI_PORT = 623;
export const DEFAULT_IPMI_TIMEOUT_MS = 20_000;

export interface PortConfig {
  readonly id: string;
  readonly transport: TransportConfig;
  readonly sysrqMask: number;
  /** Default BREAK hold for this port's wire, overridable per request. */
  readonly breakMs: number;
  readonly qmp?: QmpEndpointConfig;
  readonly nmi?: NmiConfig;
  readonly power?: PowerConfig;
  readonly probe: ProbeConfig;
  /** break: BREAK + key on the serial line; keyboard: Alt+SysRq+key through QMP send-key. */
  readonly sysrqVia: "break" | "keyboard";
  /** Requests that may wait or run on this port at once; more get 429 QUEUE_FULL. */
  readonly queueLimit: number;
  /** A BREAK through QMP chardev-send-break instead of on the wire (a pty cannot carry one). */
  readonly breakVia?: { readonly kind: "qmp"; readonly chardev: string };
  /** Telnet / RFC 2217 listeners re-exporting this port's console. */
  readonly export?: PortExportConfig;
  /**
   * A tty only: RFC 2217 clients' baud and DTR/RTS requests change the device. Off, they are echoed
   * and audited as not applied (pyserial sends 9600 baud and raises DTR/RTS on every open).
   */
  readonly allowLineControl: boolean;
  /** Crash and hang detection on this port's console (docs/recovery.md); null: `watch: false`. */
  readonly watch: WatchConfig | null;
  /** The recovery ladder (docs/recovery.md); absent: no automatic action and no POST /recover. */
  readonly recover?: RecoverConfig;
}

/** One rung of a recovery ladder, as the runner takes it (recovery/ladder.ts). */
export type RecoverStep =
  | { readonly kind: "sysrq"; readonly keys: string }
  | { readonly kind: "nmi" }
  | { readonly kind: "probe" }
  /** QMP dump-guest-memory (kdump-zlib) into the incident's dump file, before any reset. */
  | { readonly kind: "qemu-dump"; readonly timeoutMs: number }
  | { readonly kind: "wait"; readonly match: string; readonly timeoutMs: number }
  | { readonly kind: "power"; readonly action: "on" | "off" | "cycle" | "reset" }
  | { readonly kind: "command"; readonly argv: readonly string[]; readonly timeoutMs: number };

export interface RecoverConfig {
  /** Incident kinds that start the ladder. */
  readonly on: readonly WatchKind[];
  /** RE2: the line that proves the target is back, after a step that restarts it. */
  readonly until: string;
  readonly untilTimeoutMs: number;
  /** After a ladder ends, automatic triggers are ignored this long. */
  readonly cooldownMs: number;
  /** More ladders than this within an hour quarantine the port. */
  readonly maxPerHour: number;
  /** The default ladder sends `c` (kdump) instead of an NMI. */
  readonly crashKernel: boolean;
  /** null: the default Linux ladder, built for the port when a ladder starts (ladder-steps.ts). */
  readonly steps: readonly RecoverStep[] | null;
  /** A periodic probe this often starts a ladder when the target does not answer; 0: off. */
  readonly probeEveryMs: number;
}

export const DEFAULT_RECOVER_ON: readonly WatchKind[] = ["panic", "soft-lockup", "hung-task"];
export const DEFAULT_RECOVER_UNTIL_TIMEOUT_MS = 120_000;
export const DEFAULT_RECOVER_COOLDOWN_MS = 60_000;
export const DEFAULT_RECOVER_MAX_PER_HOUR = 3;
/** A dump of a few GiB with zlib takes its time; past this the qemu-dump step fails and the ladder goes on. */
export const DEFAULT_QEMU_DUMP_TIMEOUT_MS = 120_000;
/** A periodic probe sends BREAK + h: no more often than this (it also keeps a silent console busy). */
export const MIN_RECOVER_PROBE_EVERY_MS = 1000;

/** The kernel's own report kinds (recovery/detect/headers.ts matches their printk headers). */
export const KERNEL_KINDS = [
  "panic",
  "oops",
  "bug",
  "warning",
  "soft-lockup",
  "hard-lockup",
  "rcu-stall",
  "hung-task",
  "wq-lockup",
  "oom",
  "nmi",
] as const;

/** Report kinds the watcher knows: the kernel's, no output for silenceMs, a user pattern, a reboot. */
export const WATCH_KINDS = [...KERNEL_KINDS, "silence", "pattern", "reboot"] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];
/** What an incident's `kinds` may hold: the watcher's kinds and `probe` (a periodic probe's finding). */
export const INCIDENT_KINDS = [...WATCH_KINDS, "probe"] as const;

export interface WatchPatternConfig {
  readonly name: string;
  /** RE2 syntax, compiled by capture/user-regex.ts like GET /log?match. */
  readonly match: string;
  readonly severity: "info" | "warning" | "error";
}

export interface WatchConfig {
  /** Kinds that open an incident; null: all. */
  readonly kinds: readonly WatchKind[] | null;
  /** No byte for this long opens a `silence` incident; 0: off (idle consoles are quiet). */
  readonly silenceMs: number;
  /** An incident closes as `observed` after this long without a new report. */
  readonly quietMs: number;
  readonly patterns: readonly WatchPatternConfig[];
}

export const DEFAULT_WATCH_QUIET_MS = 30_000;

/** One re-export listener; its clients act as the named token (or as everyone, with no tokens). */
export interface ExportListenerConfig {
  readonly endpoint: TelnetEndpoint;
  /** rw: a client takes the writer lease at connect if it is free; ro: it only reads. */
  readonly mode: "rw" | "ro";
  readonly actsAs: { readonly name: string; readonly role: Role; readonly ports: ReadonlySet<string> | null };
  /** The greeting and refusals written into the stream as lines; false: only the target's bytes. */
  readonly notices: boolean;
}

export interface PortExportConfig {
  readonly telnet?: ExportListenerConfig;
  readonly rfc2217?: ExportListenerConfig;
}

/** read: ports and logs; operate: harmless keys, BREAK, writes; admin: destructive keys, NMI, audit. */
export type Role = "read" | "operate" | "admin";

export interface TokenConfig {
  /** Who this is in the audit and the logs; the secret itself is never kept, only its digest. */
  readonly name: string;
  readonly role: Role;
  /** Null for a token that only signs in over SSH (its sshKeys). */
  readonly sha256: Buffer | null;
  /** Public keys that act as this token at the SSH door (config/ssh-keys.ts). */
  readonly sshKeys: readonly SshPublicKey[];
  /** The ports this token may see and act on; null for all. */
  readonly ports: ReadonlySet<string> | null;
}

/** One authorized public key: its algorithm and its wire blob (compared in constant time). */
export interface SshPublicKey {
  readonly type: string;
  readonly blob: Buffer;
}

/** The SSH door (export/ssh-*.ts): where it listens and its persistent host key. */
export interface SshConfig {
  readonly host: string;
  readonly port: number;
  /** ed25519, OpenSSH format, generated mode 0600 on first start and kept. */
  readonly hostKeyFile: string;
}

export interface AuthConfig {
  /** Empty: everything is open (and the daemon listens on loopback only). */
  readonly tokens: readonly TokenConfig[];
}

export interface AuditConfig {
  readonly file: string;
  /** always: fdatasync before each response; interval: write() before each response, fdatasync every second. */
  readonly fsync: "always" | "interval";
}

export interface RateLimitConfig {
  readonly max: number;
  readonly timeWindowMs: number;
  /** Failed authentications per client address per window before it gets 429 (auth/failures.ts). */
  readonly authFailures: number;
}

export interface ListenConfig {
  readonly host: string;
  readonly port: number;
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
}

export interface BridgeConfig {
  readonly listen: ListenConfig;
  /** Null: no SSH door. */
  readonly ssh: SshConfig | null;
  readonly auth: AuthConfig;
  readonly audit: AuditConfig;
  readonly rateLimit: RateLimitConfig;
  readonly captureDir: string;
  readonly capture: CaptureConfig;
  readonly logLevel: string;
  readonly retainLines: number;
  readonly ports: readonly PortConfig[];
  /** Where live events are POSTed (recovery/webhooks); empty: none. */
  readonly webhooks: readonly WebhookConfig[];
}

/** The event types a webhook may take, as GET /events names them (recovery/events.ts). */
export const WEBHOOK_EVENTS = [
  "incident.opened",
  "incident.updated",
  "incident.closed",
  "port.state",
  "port.health",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface WebhookConfig {
  /** Metrics label and log field: never the URL (its path or query may be a secret too). */
  readonly name: string;
  readonly url: string;
  /** The HMAC key, read from secretEnv or secretFile at load; never logged or serialised. */
  readonly secret: SecretValue;
  /** null: every type. */
  readonly events: readonly WebhookEvent[] | null;
  /** One request's deadline, connect to the end of the answer. */
  readonly timeoutMs: number;
  /** Backoff from initialMs doubling to maxMs (plus jitter); a delivery is dropped forMs after its event. */
  readonly retry: { readonly initialMs: number; readonly maxMs: number; readonly forMs: number };
  /** Deliveries waiting at most; past it the oldest is dropped (logged, counted, audited). */
  readonly maxPending: number;
}

/** A secret that prints, logs and serialises as `[secret]`; `reveal()` is its one reader. */
export class SecretValue {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return "[secret]";
  }
  toString(): string {
    return "[secret]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[secret]";
  }
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;
export const DEFAULT_WEBHOOK_RETRY = { initialMs: 1_000, maxMs: 60_000, forMs: 86_400_000 } as const;
export const DEFAULT_WEBHOOK_MAX_PENDING = 1_000;

/** Rotation of each port's raw capture: segments of rotateBytes, at most maxTotalBytes kept. */
export interface CaptureConfig {
  readonly rotateBytes: number;
  readonly maxTotalBytes: number;
}

export const DEFAULT_BREAK_MS = 250;
/** What `\d` pauses in an exec port's break sequence. */
export const DEFAULT_BREAK_DELAY_MS = 250;
