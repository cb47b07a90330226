/** The one place that maps a transport config to its wire implementation. */
import type { Logger } from "pino";
import type { TransportConfig } from "../config/types.js";
import { TelnetTransport } from "./telnet.js";
import type { Transport } from "./transport.js";
import { TtyTransport } from "./tty.js";

/** What a transport may need from outside the wire, supplied by the port that owns it. */
export interface TransportContext {
  /** The pty path of a QEMU chardev, from QMP query-chardev. */
  readonly resolveChardevPath?: (chardev: string) => Promise<string>;
  /** The port's logger, for what a transport notices without failing (a lock it could not take). */
  readonly log?: TransportLog;
}

/** A port's logger as transports use it; `warnOnce` speaks once per port, not on every reconnect. */
export interface TransportLog {
  info(details: object, message: string): void;
  warnOnce(key: string, details: object, message: string): void;
}

export function transportLog(log: Logger): TransportLog {
  const warned = new Set<string>();
  return {
    info: (details, message) => log.info(details, message),
    warnOnce: (key, details, message) => {
      if (warned.has(key)) return;
      warned.add(key);
      log.warn(details, message);
    },
  };
}

export type TransportFactory = (config: TransportConfig, context?: TransportContext) => Transport;

export const createTransport: TransportFactory = (config, context) => {
  switch (config.kind) {
    case "tty":
      return new TtyTransport(config, context);
    case "telnet":
      return new TelnetTransport(config);
    case "rfc2217":
      return new TelnetTransport(
        { kind: "telnet", endpoint: config.endpoint, mode: "standard" },
        { line: config.line },
      );
  }
};
