/** The root pino logger; pretty output only when stdout is a terminal, via a worker-thread transport. */
import { pino, type Logger } from "pino";

export function createRootLogger(level: string, pretty = process.stdout.isTTY): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    redact: { paths: ["req.headers.authorization", "headers.authorization"], censor: "[redacted]" },
    ...(pretty ? { transport: { target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l" } } } : {}),
  });
}
