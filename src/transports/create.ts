/** The one place that maps a transport config to its wire implementation. */
import type { TransportConfig } from "../config/types.js";
import { TelnetTransport } from "./telnet.js";
import type { Transport } from "./transport.js";
import { TtyTransport } from "./tty.js";

/** What a transport may need from outside the wire, supplied by the port that owns it. */
export interface TransportContext {
  /** The pty path of a QEMU chardev, from QMP query-chardev. */
  readonly resolveChardevPath?: (chardev: string) => Promise<string>;
}

export type TransportFactory = (config: TransportConfig, context?: TransportContext) => Transport;

export const createTransport: TransportFactory = (config, context) => {
  switch (config.kind) {
    case "tty":
      return new TtyTransport(config, context?.resolveChardevPath);
    case "telnet":
      return new TelnetTransport(config);
    case "rfc2217":
      return new TelnetTransport(
        { kind: "telnet", endpoint: config.endpoint, mode: "standard" },
        { line: config.line },
      );
  }
};
