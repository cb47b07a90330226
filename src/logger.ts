/** The root pino logger; pretty output only when stdout is a terminal, via a worker-thread transport. */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { BatchedLogDestination } from "./log-destination.js";

/**
 * Never logged: credentials in request headers, and any field named like a secret. Fastify's request
 * serializer leaves headers out already; this catches a header or secret logged by mistake.
 */
export const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  "headers.authorization",
  "headers.cookie",
  "authorization",
  "*.authorization",
  "password",
  "*.password",
  "secret",
  "*.secret",
];

export function rootLoggerOptions(level: string): LoggerOptions {
  return {
    level,
    base: { pid: process.pid },
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
  };
}

/**
 * JSON lines go to stdout in synchronous writes, a millisecond's worth at a time (BatchedLogDestination).
 * pino's default asynchronous destination hands each line to libuv's thread pool, and on a small VM
 * that hop (futex and eventfd wake-ups on two threads) cost more than the write itself, on the path of
 * every SysRq answer. A log reader that stops reading stalls the daemon, as it would stall ser2net or
 * conserver. The process's "exit" event writes what the last turn left.
 */
export function createRootLogger(level: string, pretty = process.stdout.isTTY): Logger {
  if (pretty) {
    return pino({
      ...rootLoggerOptions(level),
      transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l" } },
    });
  }
  const destination = new BatchedLogDestination(1);
  process.once("exit", destination.flushSync);
  return pino(rootLoggerOptions(level), destination);
}

/** The same logger writing to a stream (tests check what would reach the log). */
export function createStreamLogger(level: string, destination: DestinationStream): Logger {
  return pino(rootLoggerOptions(level), destination);
}
