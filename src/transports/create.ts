/** The one place that maps a transport config to its wire implementation. */
import type { TransportConfig } from "../config/types.js";
import { TelnetTransport } from "./telnet.js";
import type { Transport } from "./transport.js";
import { TtyTransport } from "./tty.js";

export type TransportFactory = (config: TransportConfig) => Transport;

export const createTransport: TransportFactory = (config) => {
  switch (config.kind) {
    case "tty":
      return new TtyTransport(config);
    case "telnet":
      return new TelnetTransport(config);
  }
};
