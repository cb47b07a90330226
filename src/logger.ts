/** The root pino logger; pretty output only when stdout is a terminal, via a worker-thread transport. */
import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

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

export function createRootLogger(level: string, pretty = process.stdout.isTTY): Logger {
  return pino({
    ...rootLoggerOptions(level),
    ...(pretty ? { transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l" } } } : {}),
  });
}

/** The same logger writing to a stream (tests check what would reach the log). */
export function createStreamLogger(level: string, destination: DestinationStream): Logger {
  return pino(rootLoggerOptions(level), destination);
}
