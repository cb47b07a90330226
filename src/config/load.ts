/**
 * Reads the YAML config, validates it against schema.ts and resolves it into a BridgeConfig:
 * defaults applied, relative paths made relative to the config file. Every error names the key path.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ErrorObject } from "ajv";
import { CORE_SCHEMA, YAMLException, load as parseYaml } from "js-yaml";
import { BridgeError } from "../errors.js";
import { resolveExport } from "./export.js";
import type { ConfigInput, PortInput } from "./schema.js";
import { readSecret } from "./secrets.js";
import { isLoopbackHost, resolveAudit, resolveAuth, resolveListen, resolveRateLimit } from "./security.js";
import { resolveSsh } from "./ssh-keys.js";
import {
  DEFAULT_BREAK_MS,
  type AuthConfig,
  type BridgeConfig,
  type CaptureConfig,
  type NmiConfig,
  type PowerConfig,
  type ProbeConfig,
  DEFAULT_IPMI_PORT,
  DEFAULT_IPMI_TIMEOUT_MS,
  DEFAULT_PDUDAEMON_DELAY_S,
  DEFAULT_PDUDAEMON_TIMEOUT_MS,
  DEFAULT_PDUDAEMON_URL,
  DEFAULT_POWER_COMMAND_TIMEOUT_MS,
  DEFAULT_PROBE_PROMPT,
  type PortConfig,
  type QmpEndpointConfig,
  type IpmiConfig,
  type RedfishConfig,
  type TransportConfig,
  type ExecTransportConfig,
  DEFAULT_BREAK_DELAY_MS,
  DEFAULT_WATCH_QUIET_MS,
  type WatchConfig,
  DEFAULT_RECOVER_COOLDOWN_MS,
  DEFAULT_RECOVER_MAX_PER_HOUR,
  DEFAULT_QEMU_DUMP_TIMEOUT_MS,
  MIN_RECOVER_PROBE_EVERY_MS,
  DEFAULT_RECOVER_ON,
  DEFAULT_RECOVER_UNTIL_TIMEOUT_MS,
  type RecoverConfig,
  type RecoverStep,
} from "./types.js";
import { validateConfig } from "./validator.js";
import { resolveWebhooks } from "./webhooks.js";
import { parseBreakSequence, type BreakStep } from "./break-sequence.js";

export function configError(message: string): BridgeError {
  return new BridgeError("CONFIG_INVALID", message);
}

function keyPath(instancePath: string): string {
  const parts = instancePath.split("/").slice(1);
  return parts.length === 0 ? "(top level)" : parts.join(".");
}

/** The kinds of each discriminated key in schema.ts (spelled out here: the schema stays off the start path; a test keeps them in step). */
export const KINDS_BY_KEY: Readonly<Record<string, readonly string[]>> = {
  transport: ["tty", "telnet", "rfc2217", "exec", "ipmi-sol"],
  nmi: ["qmp", "redfish", "ipmi"],
  power: ["qmp", "command", "pdudaemon", "redfish", "ipmi"],
};

export function describeSchemaError(error: ErrorObject): string {
  const where = keyPath(error.instancePath);
  switch (error.keyword) {
    case "additionalProperties": {
      const key = String(error.params["additionalProperty"]);
      return `${where === "(top level)" ? key : `${where}.${key}`}: unknown key`;
    }
    case "required":
      return `${where === "(top level)" ? "" : `${where}.`}${String(error.params["missingProperty"])}: is required`;
    case "discriminator": {
      const kinds = KINDS_BY_KEY[error.instancePath.split("/").at(-1) ?? ""];
      return `${where}.kind: ${kinds ? `must be one of ${kinds.join(", ")}` : "is not a known kind"}`;
    }
    default:
      return `${where}: ${error.message ?? "is invalid"}`;
  }
}

/** Validates an already-parsed document. `baseDir` anchors relative paths. */
export function resolveConfig(document: unknown, baseDir: string): BridgeConfig {
  if (!validateConfig(document)) {
    const first = validateConfig.errors?.[0];
    throw configError(first ? describeSchemaError(first) : "invalid configuration");
  }
  const input = document;
  const seen = new Set<string>();
  input.ports.forEach((port, index) => {
    if (seen.has(port.id)) throw configError(`ports.${index}.id: duplicate port id "${port.id}"`);
    seen.add(port.id);
  });
  const captureDir = path.resolve(baseDir, input.captureDir ?? "./var/capture");
  const lockDir = input.lockDir === false ? null : path.resolve(baseDir, input.lockDir ?? "/var/lock");
  const auth = resolveAuth(input.auth, seen, baseDir);
  return {
    listen: resolveListen(input.listen, auth, baseDir),
    ssh: resolveSsh(input.ssh, auth, captureDir, baseDir, isLoopbackHost),
    auth,
    audit: resolveAudit(input.audit, captureDir, baseDir),
    rateLimit: resolveRateLimit(input.rateLimit),
    captureDir,
    capture: resolveCapture(input.capture),
    logLevel: input.log?.level ?? "info",
    retainLines: input.retainLines ?? 10_000,
    ports: input.ports.map((port, index) => resolvePort(port, index, baseDir, auth, lockDir)),
    webhooks: resolveWebhooks(input.webhooks, baseDir),
  };
}

function resolveCapture(capture: ConfigInput["capture"]): CaptureConfig {
  const rotateBytes = capture?.rotateBytes ?? 64 * 1024 * 1024;
  // It counts the indexes too (at most a quarter of their segments): 2.5x keeps a closed segment.
  const least = Math.ceil(2.5 * rotateBytes);
  const maxTotalBytes = capture?.maxTotalBytes ?? Math.max(1024 * 1024 * 1024, least);
  if (maxTotalBytes < least) {
    throw configError(
      `capture.maxTotalBytes: must be at least 2.5 times capture.rotateBytes (${least}) so a closed segment and its index are kept`,
    );
  }
  return { rotateBytes, maxTotalBytes };
}

function resolveWatch(watch: PortInput["watch"]): WatchConfig | null {
  if (watch === false) return null;
  return {
    kinds: watch?.kinds ?? null,
    silenceMs: watch?.silenceMs ?? 0,
    quietMs: watch?.quietMs ?? DEFAULT_WATCH_QUIET_MS,
    patterns: watch?.patterns ?? [],
  };
}

function resolveRecover(
  recover: NonNullable<PortInput["recover"]>,
  at: string,
  hasQmp: boolean,
): RecoverConfig {
  // Refused here, not when a crash runs the ladder: the dump is the one thing a reset erases.
  const dumpAt = (recover.steps ?? []).findIndex(
    (s) => s === "qemu-dump" || (typeof s === "object" && "qemu-dump" in s),
  );
  if (dumpAt >= 0 && !hasQmp)
    throw configError(
      `${at}.steps.${dumpAt}: qemu-dump needs a qmp block on the port ({ path } or { host, port })`,
    );
  const untilTimeoutMs = recover.untilTimeoutMs ?? DEFAULT_RECOVER_UNTIL_TIMEOUT_MS;
  const probeEveryMs = recover.probeEveryMs ?? 0;
  if (probeEveryMs !== 0 && probeEveryMs < MIN_RECOVER_PROBE_EVERY_MS) {
    throw configError(
      `${at}.probeEveryMs: 0 (off) or at least ${MIN_RECOVER_PROBE_EVERY_MS} (each probe sends BREAK + h)`,
    );
  }
  return {
    probeEveryMs,
    on: recover.on ?? DEFAULT_RECOVER_ON,
    until: recover.until,
    untilTimeoutMs,
    cooldownMs: recover.cooldownMs ?? DEFAULT_RECOVER_COOLDOWN_MS,
    maxPerHour: recover.maxPerHour ?? DEFAULT_RECOVER_MAX_PER_HOUR,
    crashKernel: recover.crashKernel ?? false,
    steps:
      recover.steps?.map((step): RecoverStep => {
        if (step === "probe") return { kind: "probe" };
        if (step === "nmi") return { kind: "nmi" };
        if (step === "qemu-dump") return { kind: "qemu-dump", timeoutMs: DEFAULT_QEMU_DUMP_TIMEOUT_MS };
        if ("qemu-dump" in step)
          return {
            kind: "qemu-dump",
            timeoutMs: step["qemu-dump"].timeoutMs ?? DEFAULT_QEMU_DUMP_TIMEOUT_MS,
          };
        if ("sysrq" in step) return { kind: "sysrq", keys: step.sysrq };
        if ("power" in step) return { kind: "power", action: step.power };
        if ("wait" in step)
          return {
            kind: "wait",
            match: step.wait.match ?? recover.until,
            timeoutMs: step.wait.timeoutMs ?? untilTimeoutMs,
          };
        return {
          kind: "command",
          argv: step.command.argv,
          timeoutMs: step.command.timeoutMs ?? DEFAULT_POWER_COMMAND_TIMEOUT_MS,
        };
      }) ?? null,
  };
}

function resolvePort(
  port: PortInput,
  index: number,
  baseDir: string,
  auth: AuthConfig,
  lockDir: string | null,
): PortConfig {
  const qmp = port.qmp === undefined ? undefined : resolveQmp(port.qmp, `ports.${index}.qmp`, baseDir);
  const sysrqVia = port.sysrq?.via ?? "break";
  if (sysrqVia === "keyboard" && !qmp) {
    throw configError(
      `ports.${index}.sysrq: via keyboard needs a qmp block on the port ({ path } or { host, port })`,
    );
  }
  if (port.allowLineControl === true && port.transport.kind !== "tty") {
    throw configError(
      `ports.${index}.allowLineControl: applies to tty ports only (telnet and RFC 2217 ports echo line settings without applying them)`,
    );
  }
  if (port.break && port.transport.kind === "exec" && port.transport.break) {
    throw configError(
      `ports.${index}.break and ports.${index}.transport.break: give one (a QMP chardev-send-break, or the program's break sequence)`,
    );
  }
  if (port.break && !qmp) throw configError(`ports.${index}.break: kind qmp needs a qmp block on the port`);
  if (port.nmi?.kind === "qmp" && !qmp) {
    throw configError(
      `ports.${index}.nmi: kind qmp needs a qmp block on the port ({ path } or { host, port })`,
    );
  }
  if (port.power?.kind === "qmp" && !qmp) {
    throw configError(
      `ports.${index}.power: kind qmp needs a qmp block on the port ({ path } or { host, port })`,
    );
  }
  return {
    id: port.id,
    transport: resolveTransport(port, index, baseDir, lockDir),
    probe: resolveProbe(port.probe),
    sysrqMask: port.sysrqMask ?? 1,
    breakMs:
      port.transport.kind === "telnet" || port.transport.kind === "exec" || port.transport.kind === "ipmi-sol"
        ? DEFAULT_BREAK_MS
        : (port.transport.breakMs ?? DEFAULT_BREAK_MS),
    sysrqVia,
    queueLimit: port.queueLimit ?? 64,
    allowLineControl: port.allowLineControl ?? false,
    watch: resolveWatch(port.watch),
    ...(port.recover
      ? { recover: resolveRecover(port.recover, `ports.${index}.recover`, qmp !== undefined) }
      : {}),
    ...(port.break ? { breakVia: port.break } : {}),
    ...(qmp ? { qmp } : {}),
    ...(port.nmi ? { nmi: resolveNmi(port.nmi, `ports.${index}.nmi`, baseDir) } : {}),
    ...(port.power ? { power: resolvePower(port.power, `ports.${index}.power`, baseDir) } : {}),
    ...(port.export
      ? { export: resolveExport(port.export, port.id, `ports.${index}.export`, auth, baseDir) }
      : {}),
  };
}

function resolvePower(power: NonNullable<PortInput["power"]>, at: string, baseDir: string): PowerConfig {
  switch (power.kind) {
    case "qmp":
      return power;
    case "command": {
      if (!power.on && !power.off && !power.cycle && !power.reset) {
        throw configError(`${at}: kind command needs at least one of on, off, cycle, reset (an argv list)`);
      }
      return { ...power, timeoutMs: power.timeoutMs ?? DEFAULT_POWER_COMMAND_TIMEOUT_MS };
    }
    case "pdudaemon":
      return {
        kind: "pdudaemon",
        url: power.url ?? DEFAULT_PDUDAEMON_URL,
        hostname: power.hostname,
        outlet: power.outlet,
        delaySeconds: power.delaySeconds ?? DEFAULT_PDUDAEMON_DELAY_S,
        timeoutMs: power.timeoutMs ?? DEFAULT_PDUDAEMON_TIMEOUT_MS,
      };
    case "redfish":
      return resolveRedfish(power, at, baseDir);
    case "ipmi":
      return resolveIpmi(power, at, baseDir);
  }
}

/** The prompt is compiled (RE2, as /log?match) when a probe runs; a bad one is reported there. */
function resolveProbe(probe: PortInput["probe"]): ProbeConfig {
  return { userspace: probe?.userspace ?? false, prompt: probe?.prompt ?? DEFAULT_PROBE_PROMPT };
}

function resolveNmi(nmi: NonNullable<PortInput["nmi"]>, at: string, baseDir: string): NmiConfig {
  switch (nmi.kind) {
    case "qmp":
      return nmi;
    case "redfish":
      return resolveRedfish(nmi, at, baseDir);
    case "ipmi":
      return resolveIpmi(nmi, at, baseDir);
  }
}

type IpmiInput =
  | Extract<NonNullable<PortInput["nmi"]>, { kind: "ipmi" }>
  | Omit<Extract<PortInput["transport"], { kind: "ipmi-sol" }>, "kind" | "takeover">;

function resolveIpmi(ipmi: IpmiInput, at: string, baseDir: string): IpmiConfig {
  if ((ipmi.passwordEnv === undefined) === (ipmi.passwordFile === undefined)) {
    throw configError(`${at}: give either passwordEnv or passwordFile (never the password itself)`);
  }
  let password: string;
  try {
    password = readSecret(
      ipmi.passwordEnv !== undefined
        ? { env: ipmi.passwordEnv }
        : { file: path.resolve(baseDir, ipmi.passwordFile ?? "") },
      `${at}.${ipmi.passwordEnv !== undefined ? "passwordEnv" : "passwordFile"}`,
    );
  } catch (err) {
    throw configError((err as Error).message);
  }
  return {
    kind: "ipmi",
    host: ipmi.host,
    port: ipmi.port ?? DEFAULT_IPMI_PORT,
    username: ipmi.username,
    password,
    interface: ipmi.interface ?? "lanplus",
    ...(ipmi.cipherSuite === undefined ? {} : { cipherSuite: ipmi.cipherSuite }),
    timeoutMs: ipmi.timeoutMs ?? DEFAULT_IPMI_TIMEOUT_MS,
    ipmitool: process.env["SYSRQ_BRIDGE_IPMITOOL"] ?? "ipmitool",
  };
}

type RedfishInput = Extract<NonNullable<PortInput["nmi"]>, { kind: "redfish" }>;

function resolveRedfish(redfish: RedfishInput, at: string, baseDir: string): RedfishConfig {
  if ((redfish.passwordEnv === undefined) === (redfish.passwordFile === undefined)) {
    throw configError(`${at}: give either passwordEnv or passwordFile (never the password itself)`);
  }
  let password: string;
  let ca: Buffer | undefined;
  try {
    password = readSecret(
      redfish.passwordEnv !== undefined
        ? { env: redfish.passwordEnv }
        : { file: path.resolve(baseDir, redfish.passwordFile ?? "") },
      `${at}.${redfish.passwordEnv !== undefined ? "passwordEnv" : "passwordFile"}`,
    );
  } catch (err) {
    throw configError((err as Error).message);
  }
  if (redfish.caFile !== undefined) {
    try {
      ca = readFileSync(path.resolve(baseDir, redfish.caFile));
    } catch (err) {
      throw configError(`${at}.caFile: ${(err as Error).message}`);
    }
  }
  return {
    kind: "redfish",
    url: redfish.url,
    username: redfish.username,
    password,
    auth: redfish.auth ?? "session",
    insecure: redfish.insecure ?? false,
    ...(ca ? { ca } : {}),
  };
}

function resolveQmp(qmp: NonNullable<PortInput["qmp"]>, at: string, baseDir: string): QmpEndpointConfig {
  if (qmp.path !== undefined) {
    if (qmp.host !== undefined || qmp.port !== undefined)
      throw configError(`${at}: give either path, or host and port`);
    return { path: path.resolve(baseDir, qmp.path) };
  }
  if (qmp.host === undefined || qmp.port === undefined)
    throw configError(`${at}: give either path, or host and port`);
  return { host: qmp.host, port: qmp.port };
}

function resolveTransport(
  port: PortInput,
  index: number,
  baseDir: string,
  lockDir: string | null,
): TransportConfig {
  const t = port.transport;
  const at = `ports.${index}.transport`;
  switch (t.kind) {
    case "tty": {
      if ((t.path === undefined) === (t.qmpChardev === undefined)) {
        throw configError(`${at}: give either path or qmpChardev`);
      }
      if (t.qmpChardev !== undefined && port.qmp === undefined) {
        throw configError(`${at}.qmpChardev: needs a qmp block on the port`);
      }
      if (t.parity === "mark" || t.parity === "space") {
        // serialport's Linux binding refuses them at every open, which would leave the port connecting forever.
        throw configError(`${at}.parity: a tty takes none, even or odd (mark and space are for rfc2217)`);
      }
      return {
        kind: "tty",
        device:
          t.path !== undefined ? { path: path.resolve(baseDir, t.path) } : { qmpChardev: t.qmpChardev ?? "" },
        baudRate: t.baudRate ?? 115_200,
        dataBits: t.dataBits ?? 8,
        parity: t.parity ?? "none",
        stopBits: t.stopBits ?? 1,
        rtscts: t.rtscts ?? false,
        hupcl: t.hupcl ?? false,
        dtr: t.dtr ?? true,
        rts: t.rts ?? true,
        lockDir,
      };
    }
    case "rfc2217":
      return {
        kind: "rfc2217",
        endpoint: { host: t.host, port: t.port },
        line: {
          baudRate: t.baudRate ?? 115_200,
          dataBits: t.dataBits ?? 8,
          parity: t.parity ?? "none",
          stopBits: t.stopBits ?? 1,
        },
      };
    case "exec":
      return resolveExecTransport(t, at, baseDir);
    case "ipmi-sol":
      return { ...resolveIpmi(t, at, baseDir), kind: "ipmi-sol", takeover: t.takeover ?? false };
    case "telnet": {
      const hasPath = t.path !== undefined;
      const hasHostPort = t.host !== undefined || t.port !== undefined;
      if (hasPath === hasHostPort) throw configError(`${at}: give either path, or host and port`);
      if (!hasPath && (t.host === undefined || t.port === undefined)) {
        throw configError(
          `${at}.${t.host === undefined ? "host" : "port"}: is required with ${t.host === undefined ? "port" : "host"}`,
        );
      }
      return {
        kind: "telnet",
        endpoint:
          t.path !== undefined
            ? { path: path.resolve(baseDir, t.path) }
            : { host: t.host ?? "", port: t.port ?? 0 },
        mode: t.mode ?? "qemu",
      };
    }
  }
}

export async function loadConfigFile(file: string): Promise<BridgeConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw configError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  const baseDir = path.dirname(path.resolve(file));
  const json = parseJsonDocument(text);
  return resolveConfig(json !== undefined ? json : parseYamlDocument(text, file), baseDir);
}

/**
 * YAML 1.2's core schema (no timestamps, no merge keys), duplicate keys refused. js-yaml, not the
 * `yaml` package: it parses a large config in a fraction of the time (see docs/performance.md).
 */
export function parseYamlDocument(text: string, file: string): unknown {
  try {
    return parseYaml(text, { schema: CORE_SCHEMA });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const { line, column, snippet } = err.mark;
    const where = `at line ${line + 1}, column ${column + 1}`;
    throw configError(`${file}: YAML error: ${err.reason} ${where}${snippet ? `:\n\n${snippet}` : ""}`);
  }
}

/**
 * A config that is JSON (YAML is a superset of JSON; tools that generate configs often write it),
 * read by JSON.parse, faster still than a YAML parser (see docs/performance.md). The document is the
 * same, except that JSON.parse keeps the last of duplicate keys where the YAML parser refuses them:
 * when the text holds more keys than the document, this answers undefined and the YAML parser reports
 * the duplicate. Anything that is not JSON is undefined too.
 */
export function parseJsonDocument(text: string): unknown {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    return undefined;
  }
  return keysInText(text) === keysInDocument(document) ? document : undefined;
}

/** The keys of a valid JSON text: its strings followed by a colon. */
function keysInText(text: string): number {
  let keys = 0;
  let open = text.indexOf('"');
  while (open !== -1) {
    let close = text.indexOf('"', open + 1);
    for (;;) {
      let backslashes = 0;
      while (text[close - 1 - backslashes] === "\\") backslashes += 1;
      if (backslashes % 2 === 0) break;
      close = text.indexOf('"', close + 1);
    }
    let next = close + 1;
    while (text[next] === " " || text[next] === "\t" || text[next] === "\n" || text[next] === "\r") next += 1;
    if (text[next] === ":") keys += 1;
    open = text.indexOf('"', next);
  }
  return keys;
}

function keysInDocument(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, item) => n + keysInDocument(item), 0);
  if (value === null || typeof value !== "object") return 0;
  return Object.values(value).reduce((n: number, item) => n + 1 + keysInDocument(item), 0);
}

type ExecInput = Extract<PortInput["transport"], { kind: "exec" }>;

/** The longest all of a break sequence's pauses may take: it runs under the wire deadline (2 s + breakMs). */
const MAX_BREAK_PAUSES_MS = 1500;

function resolveExecTransport(t: ExecInput, at: string, baseDir: string): ExecTransportConfig {
  let brk: ExecTransportConfig["break"];
  if (t.break) {
    let steps: BreakStep[];
    try {
      steps = parseBreakSequence(t.break.sequence);
    } catch (err) {
      throw configError(`${at}.break.sequence: ${(err as Error).message}`);
    }
    const delayMs = t.break.delayMs ?? DEFAULT_BREAK_DELAY_MS;
    const pauses = steps.filter((step) => step.kind === "pause").length;
    if (pauses * delayMs > MAX_BREAK_PAUSES_MS) {
      throw configError(
        `${at}.break: ${pauses} pauses of ${delayMs} ms exceed ${MAX_BREAK_PAUSES_MS} ms (a BREAK runs under the wire deadline)`,
      );
    }
    brk = { steps, delayMs };
  }
  return {
    kind: "exec",
    argv: t.argv,
    env: t.env ?? {},
    pty: t.pty ?? false,
    ...(t.cwd !== undefined ? { cwd: path.resolve(baseDir, t.cwd) } : {}),
    ...(brk ? { break: brk } : {}),
  };
}
