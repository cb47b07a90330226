/**
 * The client commands: each talks to the daemon through ApiClient, prints through output.ts and
 * returns its exit status. Entered from main.ts when the first argument names a command.
 */
import { readFileSync } from "node:fs";
import type { KeyResult } from "../sysrq/result.js";
import { ApiClient, CliError, type LogPage } from "./api-client.js";
import { CLIENT_USAGE, UsageError, parseClientArgs, type Command, type Invocation } from "./args.js";
import { runConsole } from "./console.js";
import { runRecoveryCommand } from "./recovery-commands.js";
import { untilStopped } from "./stop-signal.js";
import { ExitCode, exitForVerdict, worst } from "./exit-codes.js";
import { keysFromHelp } from "../sysrq/verdict.js";
import {
  formatAudit,
  formatBreak,
  formatError,
  formatKeyResult,
  formatKeys,
  formatLease,
  formatLogLine,
  formatNmi,
  formatPorts,
  formatTakenLease,
} from "./output.js";

/** How long each `log -f` long-poll waits before asking again. */
const FOLLOW_WAIT_MS = 25_000;
/** The largest page the log API returns. */
const LOG_PAGE = 10_000;

interface Out {
  (text: string): void;
}

export async function runClientCommand(argv: readonly string[]): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseClientArgs(argv, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`sysrq-bridge: ${err.message}\n\n${CLIENT_USAGE}\n`);
    return ExitCode.USAGE;
  }
  const client = new ApiClient(invocation.url, invocation.token);
  const print: Out = (text) => void process.stdout.write(`${text}\n`);
  try {
    return await run(invocation.command, client, invocation.json, print);
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    if (invocation.json) print(formatError(err, true));
    else process.stderr.write(`${formatError(err, false)}\n`);
    return err.exitCode;
  }
}

async function run(command: Command, client: ApiClient, json: boolean, print: Out): Promise<ExitCode> {
  switch (command.kind) {
    case "send":
      return send(command, client, json, print);
    case "nmi": {
      const result = await client.nmi(command.port, command.timeoutMs);
      print(json ? JSON.stringify(result) : formatNmi(result));
      return exitForVerdict(result.verdict);
    }
    case "break": {
      const sent = await client.sendBreak(command.port, command.breakMs);
      print(json ? JSON.stringify(sent) : formatBreak(sent));
      return ExitCode.OK;
    }
    case "ports": {
      const ports = await client.ports();
      print(json ? JSON.stringify(ports) : formatPorts(ports));
      return ExitCode.OK;
    }
    case "log":
      return log(command, client, json, print);
    case "write": {
      const bytes = Buffer.from(command.text === "-" ? readFileSync(0) : Buffer.from(command.text, "utf8"));
      const written = await client.write(
        command.port,
        command.enter ? Buffer.concat([bytes, Buffer.from("\r")]) : bytes,
      );
      print(json ? JSON.stringify(written) : `${written.bytes} bytes written to ${written.port}`);
      return ExitCode.OK;
    }
    case "console":
      return runConsole(client, command.port, command.backlog, process);
    case "lease":
      return lease(command, client, json, print);
    case "capture": {
      const { port, offset, length } = command;
      const slice = await client.capture(port, { offset, length });
      // Raw bytes to stdout, as the target printed them (redirect to a file); the range on stderr.
      process.stdout.write(slice.data);
      process.stderr.write(
        `${command.port}: bytes ${slice.offset}-${slice.offset + slice.data.length} of ${slice.start}-${slice.end} kept\n`,
      );
      return ExitCode.OK;
    }
    case "audit": {
      const { port, since, limit } = command;
      const page = await client.audit({ port, since, limit });
      if (json) print(JSON.stringify(page));
      else if (page.entries.length > 0) print(formatAudit(page.entries));
      if (!json) process.stderr.write(`next: --since ${page.next}\n`);
      return ExitCode.OK;
    }
    case "probe":
    case "power":
    case "recover":
    case "incidents":
    case "incident":
    case "quarantine":
      return runRecoveryCommand(command, client, json, print);
    case "keys": {
      const [{ keys }, offered] = await Promise.all([client.sysrqKeys(), offeredKeys(client, command.port)]);
      print(json ? JSON.stringify({ port: command.port, offered, keys }) : formatKeys(keys, offered));
      return ExitCode.OK;
    }
  }
}

/** A HELP line in the log, old ("SysRq : HELP") or new ("sysrq: HELP :"). */
const HELP_LINE = "(sysrq|SysRq) ?: HELP ?:";

/**
 * The keys the port's kernel listed in the last HELP line of its log, or null when none is kept
 * (the answer to SysRq h, or to a key the kernel lacks).
 */
async function offeredKeys(client: ApiClient, port: string): Promise<string | null> {
  let since = 0;
  let last: string | null = null;
  // A long log is scanned in pages (the daemon may cut a page short; next leads on).
  for (let pages = 0; pages < 100; pages += 1) {
    const page = await client.log(port, { since, limit: LOG_PAGE, match: HELP_LINE });
    last = page.lines.at(-1)?.text ?? last;
    if (page.next <= since) break;
    since = page.next;
  }
  if (last === null) return null;
  const body = /HELP ?:(.*)$/.exec(last)?.[1] ?? "";
  return keysFromHelp(body);
}

async function lease(
  command: Extract<Command, { kind: "lease" }>,
  client: ApiClient,
  json: boolean,
  print: Out,
): Promise<ExitCode> {
  const { port } = command;
  switch (command.action) {
    case "show": {
      const { lease: current } = await client.port(port);
      print(json ? JSON.stringify({ port, lease: current }) : formatLease(port, current));
      return ExitCode.OK;
    }
    case "take": {
      const taken = await client.takeLease(port, {
        ...(command.ttlMs === undefined ? {} : { ttlMs: command.ttlMs }),
        ...(command.takeover ? { takeover: true } : {}),
      });
      print(json ? JSON.stringify({ port, ...taken }) : formatTakenLease(port, taken));
      return ExitCode.OK;
    }
    case "release": {
      const { released } = await client.releaseLease(port, command.leaseId ?? "");
      print(
        json
          ? JSON.stringify({ port, released })
          : `${port}: ${released ? "writer lease released" : "that lease is no longer held (expired or taken over)"}`,
      );
      // Not released: the id did not name the current lease; say so in the status too.
      return released ? ExitCode.OK : ExitCode.REFUSED;
    }
  }
}

/** Human mode prints each key as it settles; --json prints one document once the sequence is done. */
async function send(
  command: Extract<Command, { kind: "send" }>,
  client: ApiClient,
  json: boolean,
  print: Out,
): Promise<ExitCode> {
  const { port, keys, timeoutMs, settleMs, breakMs } = command;
  const timing = { timeoutMs, settleMs, breakMs };
  const onResult = (result: KeyResult): void => {
    if (!json) print(formatKeyResult(result));
  };
  let results: readonly KeyResult[];
  try {
    results = await client.sysrq(port, { keys, ...timing }, onResult);
  } catch (err) {
    if (!(err instanceof CliError) || err.results.length === 0 || !json) throw err;
    // Part-way failure: the settled keys still go out, beside the error.
    print(JSON.stringify({ port, results: err.results, error: { code: err.code, message: err.message } }));
    return worst([err.exitCode, ...err.results.map((r) => exitForVerdict(r.verdict))]);
  }
  if (json) print(JSON.stringify({ port, results }));
  return worst(results.map((result) => exitForVerdict(result.verdict)));
}

async function log(
  command: Extract<Command, { kind: "log" }>,
  client: ApiClient,
  json: boolean,
  print: Out,
): Promise<ExitCode> {
  let page: LogPage;
  if (command.since !== undefined) {
    page = await client.log(command.port, { since: command.since, limit: command.lines });
  } else {
    // The last `lines` lines: read to the end of the ring, keep the tail.
    page = await client.log(command.port, { limit: LOG_PAGE });
    let tail = page.lines;
    while (page.lines.length === LOG_PAGE) {
      page = await client.log(command.port, { since: page.next, limit: LOG_PAGE });
      tail = [...tail, ...page.lines].slice(-command.lines);
    }
    page = { lines: tail.slice(-command.lines), next: page.next };
  }
  // Escape sequences from the target (a cursor query ESC[6n) would act on a terminal: shown unless --raw.
  const raw = command.raw || process.stdout.isTTY !== true;
  for (const line of page.lines) print(formatLogLine(line, json, raw));
  if (!command.follow) return ExitCode.OK;
  let next = page.next;
  await untilStopped(async (signal) => {
    while (!signal.aborted) {
      const more = await client.log(
        command.port,
        { since: next, waitMs: FOLLOW_WAIT_MS, limit: 1000 },
        signal,
      );
      for (const line of more.lines) print(formatLogLine(line, json, raw));
      next = more.next;
    }
  });
  return ExitCode.OK;
}
