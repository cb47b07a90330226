/**
 * Arguments of the client commands (`sysrq-bridge send vm0 reisub`, ...) into one typed command.
 * Pure: takes argv and the environment, returns a command or a usage error; no I/O.
 */
import { parseArgs } from "node:util";

export const DEFAULT_URL = "http://127.0.0.1:8420";

export const COMMAND_NAMES = [
  "send",
  "nmi",
  "break",
  "ports",
  "log",
  "write",
  "console",
  "lease",
  "capture",
  "audit",
  "keys",
  "probe",
  "power",
  "recover",
  "incidents",
  "incident",
  "quarantine",
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export function isClientCommand(word: string | undefined): word is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(word ?? "");
}

export type Command =
  | { kind: "send"; port: string; keys: string; timeoutMs?: number; settleMs?: number; breakMs?: number }
  | { kind: "nmi"; port: string; timeoutMs?: number }
  | { kind: "break"; port: string; breakMs?: number }
  | { kind: "ports" }
  | { kind: "log"; port: string; follow: boolean; lines: number; since?: number; raw: boolean }
  | { kind: "write"; port: string; text: string; enter: boolean }
  | { kind: "console"; port: string; backlog: number }
  | { kind: "lease"; action: LeaseAction; port: string; ttlMs?: number; leaseId?: string; takeover: boolean }
  | { kind: "capture"; port: string; offset?: number; length?: number }
  | { kind: "audit"; since?: number; limit?: number; port?: string }
  | { kind: "keys"; port: string }
  | { kind: "probe"; port: string; probeMs?: number }
  | { kind: "power"; port: string; action: PowerAction; timeoutMs?: number }
  | { kind: "recover"; port: string; detach: boolean }
  | {
      kind: "incidents";
      port?: string;
      since?: number;
      state?: "open" | "closed";
      limit?: number;
      follow: boolean;
    }
  | { kind: "incident"; id: string }
  | { kind: "quarantine"; action: "clear"; port: string };

export const POWER_ACTIONS = ["on", "off", "cycle", "reset"] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

export const LEASE_ACTIONS = ["show", "take", "release"] as const;
export type LeaseAction = (typeof LEASE_ACTIONS)[number];

export interface Invocation {
  readonly command: Command;
  readonly url: string;
  readonly token: string | undefined;
  readonly json: boolean;
}

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const CLIENT_USAGE = `usage: sysrq-bridge <command> [options]

commands:
  send <port> <keys>     SysRq keys, one BREAK each (e.g. h, or reisub); one line per key as it settles
  nmi <port>             an NMI through the port's control channel
  break <port>           a plain BREAK (the next byte typed becomes a SysRq key)
  ports                  the ports, their state and capabilities
  log <port> [-f]        the console's recent lines; -f follows. On a terminal the target's control
                         characters show as ^[ and the like (--raw writes them as they came)
  write <port> <text>    text to the console (--enter adds a CR: Enter on a serial console)
  console <port>         an interactive terminal; ~. at the start of a line leaves, ~B sends a BREAK
  lease show <port>      who holds the writer lease
  lease take <port>      take it over HTTP for --ttl-ms (prints the lease id; --takeover: admin)
  lease release <port> <lease-id>
  capture <port>         the raw bytes the target printed, to stdout (--offset, --length)
  audit                  the audit log, one line per request (admin; --since, --limit, --port)
  keys <port>            the SysRq keys, the role each needs, and which the port's kernel offers
                         (from its last HELP line: send h to refresh)
  probe <port>           how alive the target is: kernel (BREAK + h), userspace, VM
  power <port> <action>  on, off, cycle or reset through the port's power channel (admin); waits
                         for the verdict (done: the boot banner seen)
  recover <port>         run the port's recovery ladder (admin), printing each step as it ends
                         (--detach: print the incident id and return)
  incidents [<port>]     crashes and hangs found on the consoles (--since ID, --state, --limit);
                         -f keeps printing new ones and their outcomes
  incident <id>          one incident: its report, the lines before it, the ladder's steps
  quarantine clear <port>
                         let automatic recovery act on a quarantined port again (admin)

options:
  --url URL              the daemon (env SYSRQ_BRIDGE_URL, default ${DEFAULT_URL})
  --token TOKEN          bearer token (env SYSRQ_BRIDGE_TOKEN)
  --json                 machine-readable output
  --timeout-ms N         send, nmi: how long to wait for the kernel's answer
  --settle-ms N          send: quiet time after each answer
  --break-ms N           send, break: BREAK length
  -f, --follow           log: keep printing new lines
  -n, --lines N          log: how many recent lines (default 50)
  --since SEQ            log: start at this line number
  --enter                write: append a CR
  --raw                  log: write the target's escape sequences unchanged, even to a terminal
  --backlog BYTES        console: replay this much earlier output first
  --ttl-ms N             lease take: how long the lease lasts (default 60000)
  --takeover             lease take: take it from its holder (admin)
  --offset N, --length N capture: absolute byte offset (default the oldest kept), byte count
  --since SEQ, --limit N audit: first record, how many (default 1000)
  --port PORT            audit: only this port's records
  --probe-ms N           probe: how long each check waits (default 2000)
  --state open|closed    incidents: only these
  --detach               recover: return once the ladder has started

exit status of probe: 0 kernel alive (and userspace responsive when checked), 4 otherwise;
power: 0 done, 4 no-effect, 7 failed (POWER_FAILED); recover: 0 recovered or observed, 4 failed,
6 quarantined.

exit status (worst wins): 0 acknowledged, 2 disabled, 3 unsupported, 4 no-response or skipped,
5 panic, 6 refused by the daemon (4xx, or FORBIDDEN in a console), 7 transport error (cannot
connect, 5xx), 64 usage (unknown command, bad arguments)`;

const OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  "timeout-ms": { type: "string" },
  "settle-ms": { type: "string" },
  "break-ms": { type: "string" },
  follow: { type: "boolean", short: "f" },
  lines: { type: "string", short: "n" },
  since: { type: "string" },
  enter: { type: "boolean" },
  backlog: { type: "string" },
  raw: { type: "boolean" },
  "ttl-ms": { type: "string" },
  takeover: { type: "boolean" },
  offset: { type: "string" },
  length: { type: "string" },
  limit: { type: "string" },
  port: { type: "string" },
  "probe-ms": { type: "string" },
  state: { type: "string" },
  detach: { type: "boolean" },
} as const;

type OptionName = keyof typeof OPTIONS;

/** Options each command accepts beyond --url, --token and --json, and its positional arguments. */
const SHAPES: Record<CommandName, { options: OptionName[]; positionals: string[] }> = {
  send: { options: ["timeout-ms", "settle-ms", "break-ms"], positionals: ["port", "keys"] },
  nmi: { options: ["timeout-ms"], positionals: ["port"] },
  break: { options: ["break-ms"], positionals: ["port"] },
  ports: { options: [], positionals: [] },
  log: { options: ["follow", "lines", "since", "raw"], positionals: ["port"] },
  write: { options: ["enter"], positionals: ["port", "text"] },
  console: { options: ["backlog"], positionals: ["port"] },
  lease: { options: ["ttl-ms", "takeover"], positionals: ["action", "port"] },
  capture: { options: ["offset", "length"], positionals: ["port"] },
  audit: { options: ["since", "limit", "port"], positionals: [] },
  keys: { options: [], positionals: ["port"] },
  probe: { options: ["probe-ms"], positionals: ["port"] },
  power: { options: ["timeout-ms"], positionals: ["port", "action"] },
  recover: { options: ["detach"], positionals: ["port"] },
  incidents: { options: ["since", "state", "limit", "follow"], positionals: ["port"] },
  incident: { options: [], positionals: ["id"] },
  quarantine: { options: [], positionals: ["action", "port"] },
};

/** `incidents` without a port lists every port's. */
const ALL_INCIDENTS_SHAPE = { options: SHAPES.incidents.options, positionals: [] as string[] };

const RELEASE_SHAPE = { options: [] as OptionName[], positionals: ["action", "port", "lease-id"] };

const GLOBAL_OPTIONS: OptionName[] = ["url", "token", "json"];

function integer(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new UsageError(`--${name} wants a whole number >= ${min}, not "${value}"`);
  }
  return Number(value);
}

/** Drops undefined values so optional fields stay absent. */
function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function parseClientArgs(argv: readonly string[], env: NodeJS.ProcessEnv): Invocation {
  const [name, ...rest] = argv;
  if (!isClientCommand(name)) throw new UsageError(`unknown command "${name ?? ""}"`);
  // `lease release` takes the lease id as a third word.
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const shape =
    name === "lease" && rest[0] === "release"
      ? RELEASE_SHAPE
      : name === "incidents" && positionals.length === 0
        ? ALL_INCIDENTS_SHAPE
        : SHAPES[name];
  const allowed = new Set<string>([...GLOBAL_OPTIONS, ...shape.options]);
  const stray = Object.keys(values).filter((option) => !allowed.has(option));
  if (stray.length > 0) throw new UsageError(`${name} takes no --${stray.join(", --")}`);
  if (positionals.length !== shape.positionals.length) {
    const wanted = shape.positionals.map((p) => `<${p}>`).join(" ");
    throw new UsageError(`usage: sysrq-bridge ${name}${wanted ? ` ${wanted}` : ""}`);
  }
  const [port = "", second = "", third = ""] = positionals;
  const timeoutMs = integer("timeout-ms", values["timeout-ms"], 1);
  const url = values.url ?? env["SYSRQ_BRIDGE_URL"] ?? DEFAULT_URL;
  if (!/^https?:\/\/[^/]/.test(url))
    throw new UsageError(`--url must be an http:// or https:// URL, not "${url}"`);
  const token = values.token ?? (env["SYSRQ_BRIDGE_TOKEN"] || undefined);
  const json = values.json === true;
  const command = ((): Command => {
    switch (name) {
      case "send":
        return defined({
          kind: "send",
          port,
          keys: second,
          timeoutMs,
          settleMs: integer("settle-ms", values["settle-ms"], 0),
          breakMs: integer("break-ms", values["break-ms"], 1),
        });
      case "nmi":
        return defined({ kind: "nmi", port, timeoutMs });
      case "break":
        return defined({ kind: "break", port, breakMs: integer("break-ms", values["break-ms"], 1) });
      case "ports":
        return { kind: "ports" };
      case "log":
        return defined({
          kind: "log",
          port,
          follow: values.follow === true,
          lines: integer("lines", values.lines, 1) ?? 50,
          since: integer("since", values.since, 0),
          raw: values.raw === true,
        });
      case "write":
        if (second === "") throw new UsageError("write: the text is empty");
        return { kind: "write", port, text: second, enter: values.enter === true };
      case "console":
        return { kind: "console", port, backlog: integer("backlog", values.backlog, 0) ?? 0 };
      case "lease": {
        // Here the first word is the action and the port comes second.
        const action = port;
        if (!(LEASE_ACTIONS as readonly string[]).includes(action))
          throw new UsageError(`lease: the action is show, take or release, not "${action}"`);
        if (action !== "take" && (values["ttl-ms"] !== undefined || values.takeover === true))
          throw new UsageError("lease: --ttl-ms and --takeover go with take");
        return defined({
          kind: "lease",
          action: action as LeaseAction,
          port: second,
          ttlMs: integer("ttl-ms", values["ttl-ms"], 1000),
          leaseId: third === "" ? undefined : third,
          takeover: values.takeover === true,
        });
      }
      case "capture":
        return defined({
          kind: "capture",
          port,
          offset: integer("offset", values.offset, 0),
          length: integer("length", values.length, 1),
        });
      case "audit":
        return defined({
          kind: "audit",
          since: integer("since", values.since, 1),
          limit: integer("limit", values.limit, 1),
          port: values.port,
        });
      case "keys":
        return { kind: "keys", port };
      case "probe":
        return defined({ kind: "probe", port, probeMs: integer("probe-ms", values["probe-ms"], 100) });
      case "power":
        if (!(POWER_ACTIONS as readonly string[]).includes(second))
          throw new UsageError(`power: the action is ${POWER_ACTIONS.join(", ")}, not "${second}"`);
        return defined({ kind: "power", port, action: second as PowerAction, timeoutMs });
      case "recover":
        return { kind: "recover", port, detach: values.detach === true };
      case "incidents": {
        const state = values.state;
        if (state !== undefined && state !== "open" && state !== "closed")
          throw new UsageError(`--state is open or closed, not "${state}"`);
        return defined({
          kind: "incidents",
          port: port === "" ? undefined : port,
          since: integer("since", values.since, 1),
          state,
          limit: integer("limit", values.limit, 1),
          follow: values.follow === true,
        });
      }
      case "incident":
        return { kind: "incident", id: port };
      case "quarantine":
        // The first word is the action, as with lease.
        if (port !== "clear") throw new UsageError(`quarantine: the action is clear, not "${port}"`);
        return { kind: "quarantine", action: "clear", port: second };
    }
  })();
  return { command, url, token, json };
}
