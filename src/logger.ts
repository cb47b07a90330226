/** The root pino logger; pretty output only when stdout is a terminal, via a worker-thread transport. */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { BatchedLogDestination } from "./log-destination.js";

/**
 * Never logged: the value of any key named authorization, cookie, password or secret, at any depth
 * (credentials in request headers, a secret in a config object logged by mistake), nor of a query
 * parameter named like a credential (token, key, auth, ...). Fastify's request
 * serializer leaves headers out already; this catches one logged by mistake.
 *
 * It works on the finished JSON line (pino's streamWrite hook): a line without such a key, which is
 * every line in normal operation, passes after one regular-expression scan; only a line with one is
 * parsed and written again with the values censored. pino's path-based `redact` cloned and walked
 * every logged object (about 12 KB of garbage per SysRq request in two lines) to find nothing.
 */
const SECRET_KEY = /"(?:authorization|cookie|password|secret)"\s*:/i;
const SECRET_KEYS = new Set(["authorization", "cookie", "password", "secret"]);
export const CENSORED = "[redacted]";
/**
 * A credential in a URL's query (`?token=...`, `&api_key=...`): no route takes one, but a client may
 * send it, and the URL is logged (access log, route-not-found messages). Its value is censored
 * wherever the line has it; `\x` pairs are JSON escapes inside the value.
 */
const QUERY_PARAM = /([?&])([\w.-]{1,64})=((?:[^&#"\s\\]|\\.)*)/g;
const SECRET_NAME = /token|key|secret|passw|auth/i;
/** Either kind of secret, in one scan of the line: the common case (none) costs one test. Bounded
 * repeats only: a URL of 16 KiB of letters must not make this scan quadratic. */
const ANY_SECRET =
  /"(?:authorization|cookie|password|secret)"\s*:|[?&][\w.-]{0,64}(?:token|key|secret|passw|auth)/i;

export function redactSecrets(input: string): string {
  if (!ANY_SECRET.test(input)) return input;
  const line = input.replace(QUERY_PARAM, (param: string, sep: string, name: string) =>
    SECRET_NAME.test(name) ? `${sep}${name}=${CENSORED}` : param,
  );
  if (!SECRET_KEY.test(line)) return line;
  const end = line.endsWith("\n") ? "\n" : "";
  try {
    const value: unknown = JSON.parse(line, (key, inner: unknown) =>
      SECRET_KEYS.has(key.toLowerCase()) ? CENSORED : inner,
    );
    return `${JSON.stringify(value)}${end}`;
  } catch {
    return `${JSON.stringify({ msg: "log line withheld: it could not be redacted" })}${end}`;
  }
}

export function rootLoggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    hooks: { streamWrite: redactSecrets },
  };
}

/**
 * JSON lines go to stdout in synchronous writes, those of two event-loop turns at a time (BatchedLogDestination).
 * pino's default asynchronous destination hands each line to libuv's thread pool, and on a small VM
 * that hop (futex and eventfd wake-ups on two threads) cost more than the write itself, on the path of
 * every SysRq answer. A log reader that stops reading stalls the daemon, as it would stall ser2net or
 * conserver. The process's "exit" event writes what the last turn left.
 */
export function createRootLogger(level: string, pretty = process.stdout.isTTY): Logger {
  if (pretty) {
    const transport = pino.transport({ target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l" } });
    // The terminal went away (a hang-up): its worker ends on EIO and every later line would raise an
    // uncaught "worker has exited". The daemon goes on without a log, as it does on EPIPE.
    transport.on("error", () => undefined);
    return pino(rootLoggerOptions(level), transport);
  }
  const destination = new BatchedLogDestination(1);
  process.once("exit", destination.flushSync);
  return pino(rootLoggerOptions(level), destination);
}

/** The same logger writing to a stream (tests check what would reach the log). */
export function createStreamLogger(level: string, destination: DestinationStream): Logger {
  return pino(rootLoggerOptions(level), destination);
}
