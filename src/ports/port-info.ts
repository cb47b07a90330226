/** What GET /ports shows of a port: its state and the methods it has. */
import type { SerialSettings, TransportConfig } from "../config/types.js";
import type { BreakCapability, SerialLine } from "../transports/transport.js";
import { describeArgv } from "../transports/exec.js";
import { solTarget } from "../transports/ipmi-sol.js";
import type { DeviceHolder } from "../transports/uucp-lock.js";
import type { CaptureHealth } from "../capture/capture.js";
import type { PowerChannelKind } from "../control/power-channel.js";
import type { PortState } from "./device-connection.js";

export interface PortInfo {
  readonly id: string;
  readonly kind: TransportConfig["kind"];
  readonly target: string;
  readonly state: PortState;
  readonly reason?: string;
  /** While `locked`: the other program holding the device (its UUCP lock file's pid). */
  readonly lockedBy?: DeviceHolder;
  /** Whether the capture stores every byte (`degraded` while the disk refuses writes), and the bytes lost. */
  readonly capture: CaptureHealth;
  /** The serial line's settings; null for a port without one of its own (telnet). */
  readonly line: LineInfo | null;
  readonly capabilities: {
    readonly break: BreakCapability;
    /** How SysRq keys reach this target: after a serial BREAK, or as key presses over QMP. */
    readonly sysrq: { readonly available: boolean; readonly method: "break" | "keyboard" };
    readonly nmi: NmiCapability;
    readonly power: PowerCapability;
  };
}

/**
 * source `device`: a tty as it is now (configured, then changed by allowLineControl clients);
 * `config`: what is configured (a tty not open, or what the daemon asks of an RFC 2217 server).
 */
export type LineInfo = (SerialLine | SerialSettings) & {
  readonly source: "device" | "config";
  readonly allowLineControl: boolean;
};

export interface NmiCapability {
  readonly available: boolean;
  readonly method?: "qmp" | "redfish" | "ipmi";
  readonly reason?: string;
}

/** In the shape of NmiCapability; `actions` are those the channel can take. */
export interface PowerCapability {
  readonly available: boolean;
  readonly method?: PowerChannelKind;
  readonly actions?: string[];
  readonly reason?: string;
}

/** The far end of a transport, for humans: a device path or host:port. */
export function describeTarget(t: TransportConfig): string {
  switch (t.kind) {
    case "tty":
      return "path" in t.device ? t.device.path : `QEMU chardev ${t.device.qmpChardev}`;
    case "telnet":
    case "rfc2217":
      return "path" in t.endpoint ? t.endpoint.path : `${t.endpoint.host}:${t.endpoint.port}`;
    case "exec":
      return describeArgv(t.argv);
    case "ipmi-sol":
      return solTarget(t);
  }
}
