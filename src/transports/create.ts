/**
 * The one place that maps a transport config to its wire implementation. The tty transport, and with
 * it serialport's native binding, is loaded only when a configured port uses a tty: a daemon of
 * telnet ports starts without it.
 */
import type { Logger } from "pino";
import type { TransportConfig } from "../config/types.js";
import { ExecTransport } from "./exec.js";
import { IpmiSolTransport } from "./ipmi-sol.js";
import { TelnetTransport } from "./telnet.js";
import type { Transport, TransportContext, TransportLog } from "./transport.js";

export function transportLog(log: Logger): TransportLog {
  const warned = new Set<string>();
  return {
    info: (details, message) => log.info(details, message),
    warn: (details, message) => log.warn(details, message),
    warnOnce: (key, details, message) => {
      if (warned.has(key)) return;
      warned.add(key);
      log.warn(details, message);
    },
  };
}

export type TransportFactory = (config: TransportConfig, context?: TransportContext) => Transport;

/** The factory for these ports' transports (the configs of every port the daemon will open). */
export async function loadTransportFactory(configs: readonly TransportConfig[]): Promise<TransportFactory> {
  const tty = configs.some((config) => config.kind === "tty") ? await import("./tty.js") : null;
  return (config, context) => {
    switch (config.kind) {
      case "tty":
        if (!tty) throw new Error("tty transport asked for, but no tty port was configured");
        return new tty.TtyTransport(config, context);
      case "telnet":
        return new TelnetTransport(config);
      case "rfc2217":
        return new TelnetTransport(
          { kind: "telnet", endpoint: config.endpoint, mode: "standard" },
          { line: config.line },
        );
      case "exec":
        return ExecTransport.fromConfig(config, context?.log);
      case "ipmi-sol":
        return new IpmiSolTransport(config, context?.log);
    }
  };
}
