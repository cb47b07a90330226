/**
 * The server side of RFC 2217's COM-PORT-OPTION commands, pure: what to answer to each command, and
 * which ones need the port (BREAK on/off, line settings). Every answer is the command + 100.
 *
 *   client: IAC SB 44 <cmd> <value> IAC SE  ->  server: IAC SB 44 <cmd+100> <value> IAC SE
 *
 * A line setting (baud, framing, DTR/RTS, flow) comes out decoded as a LineChange for the port to
 * apply or not (allowLineControl); either way the answer echoes the requested value, since pyserial
 * fails its open unless the answer starts with the value it asked for. A request for the current
 * value (0, or SET-CONTROL 0/4/7/10/13) gets the port's real setting where it has one.
 */
import { BREAK_OFF, BREAK_ON, ComPortCommand, NOTIFY_MODEMSTATE, comPortMessage } from "../telnet/rfc2217.js";
import type { LineSettings } from "../telnet/rfc2217.js";
import type { FlowControl, LineChange } from "../transports/transport.js";

export const SERVER_REPLY_OFFSET = 100;
const SIGNATURE = 0;
const SET_LINESTATE_MASK = 10;
const SET_MODEMSTATE_MASK = 11;
const PURGE_DATA = 12;

const PARITY_CODE = { none: 1, odd: 2, even: 3, mark: 4, space: 5 } as const;
const STOP_CODE = { 1: 1, 2: 2, 1.5: 3 } as const;
const PARITY_OF = ["unknown", "none", "odd", "even", "mark", "space"] as const;
const STOP_OF = [0, 1, 2, 1.5] as const;
/** SET-CONTROL flow values; 17-19 (DCD, DTR, DSR flow) are "other". */
const FLOW_OF: Record<number, FlowControl> = {
  1: "none",
  2: "xonxoff",
  3: "rtscts",
  14: "none",
  15: "xonxoff",
  16: "rtscts",
};

/** SET-CONTROL values: a query and the settings it reads. */
const CONTROL_GROUPS = [
  { name: "outbound flow", query: 0, values: [1, 2, 3, 17, 18, 19] },
  { name: "break", query: 4, values: [BREAK_ON, BREAK_OFF] },
  { name: "dtr", query: 7, values: [8, 9] },
  { name: "rts", query: 10, values: [11, 12] },
  { name: "inbound flow", query: 13, values: [14, 15, 16] },
] as const;

export type ComPortAction =
  | { readonly kind: "reply"; readonly reply: Buffer }
  | {
      /** A line setting: the port applies it or not, the caller audits which; `reply` echoes it. */
      readonly kind: "line";
      readonly reply: Buffer;
      readonly change: LineChange;
      /** The RFC 2217 value as requested, for the audit. */
      readonly value: number;
    }
  | { readonly kind: "break-on" }
  | { readonly kind: "break-off" }
  /** A poll for the modem lines: answered with NOTIFY-MODEMSTATE of the port's lines now. */
  | { readonly kind: "modem-state" }
  | { readonly kind: "none" };

/** Where the port's real line settings are unknown (a QEMU chardev), these are reported. */
const NOMINAL: LineSettings = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 };

export class ComPortState {
  /** The value last answered per SET-CONTROL group (what the client believes). */
  private readonly control = new Map<string, number>([
    ["outbound flow", 1],
    ["break", BREAK_OFF],
    ["dtr", 8],
    ["rts", 11],
    ["inbound flow", 14],
  ]);

  /** @param real the port's line settings now, null where it has none (a QEMU chardev) */
  constructor(
    private readonly real: () => LineSettings | null,
    private readonly signature: string,
  ) {}

  private get line(): LineSettings {
    return this.real() ?? NOMINAL;
  }

  handle(command: number, value: Buffer): ComPortAction {
    const first = value[0] ?? 0;
    switch (command) {
      case SIGNATURE:
        return this.reply(command, Buffer.from(this.signature, "latin1"));
      case ComPortCommand.SET_BAUDRATE: {
        const baud = value.length >= 4 ? value.readUInt32BE(0) : 0;
        if (baud === 0) {
          const current = Buffer.alloc(4);
          current.writeUInt32BE(this.line.baudRate);
          return this.reply(command, current);
        }
        return this.echo(command, value.subarray(0, 4), baud, { setting: "baudrate", baudRate: baud });
      }
      case ComPortCommand.SET_DATASIZE:
        return first === 0
          ? this.reply(command, [this.line.dataBits])
          : this.echo(command, [first], first, { setting: "datasize", dataBits: first });
      case ComPortCommand.SET_PARITY:
        return first === 0
          ? this.reply(command, [PARITY_CODE[this.line.parity]])
          : this.echo(command, [first], first, { setting: "parity", parity: PARITY_OF[first] ?? "unknown" });
      case ComPortCommand.SET_STOPSIZE:
        return first === 0
          ? this.reply(command, [STOP_CODE[this.line.stopBits]])
          : this.echo(command, [first], first, { setting: "stopsize", stopBits: STOP_OF[first] ?? 0 });
      case ComPortCommand.SET_CONTROL:
        return this.setControl(first);
      case NOTIFY_MODEMSTATE:
        return { kind: "modem-state" };
      case SET_LINESTATE_MASK:
      case SET_MODEMSTATE_MASK:
      case PURGE_DATA:
        // Nothing is buffered in the daemon beyond what is already on its way: purging is a no-op.
        return this.reply(command, [first]);
      default:
        return { kind: "none" }; // notifications (FLOWCONTROL-SUSPEND/RESUME) and unknown commands
    }
  }

  /**
   * The answer to SET-CONTROL BREAK-ON once the line is in BREAK (or could not be put there), and to
   * BREAK-OFF once it is out of it.
   */
  breakAnswer(sent: boolean): Buffer {
    return this.controlReply(sent ? BREAK_ON : BREAK_OFF).reply;
  }

  private setControl(value: number): ComPortAction {
    if (value === BREAK_ON) return { kind: "break-on" };
    if (value === BREAK_OFF) return { kind: "break-off" };
    const group = CONTROL_GROUPS.find(
      (g) => g.query === value || (g.values as readonly number[]).includes(value),
    );
    if (group === undefined) return this.reply(ComPortCommand.SET_CONTROL, [value]);
    if (group.query === value) return this.controlReply(this.control.get(group.name) ?? value);
    if (group.name === "break") return this.controlReply(value); // 5 and 6 are handled above
    this.control.set(group.name, value);
    return { ...this.controlReply(value), kind: "line", value, change: controlChange(group.name, value) };
  }

  private controlReply(value: number): { kind: "reply"; reply: Buffer } {
    if (value === BREAK_ON || value === BREAK_OFF) this.control.set("break", value);
    return this.reply(ComPortCommand.SET_CONTROL, [value]);
  }

  private echo(
    command: number,
    value: Iterable<number>,
    requested: number,
    change: LineChange,
  ): ComPortAction {
    return { ...this.reply(command, value), kind: "line", value: requested, change };
  }

  private reply(command: number, value: Iterable<number>): { kind: "reply"; reply: Buffer } {
    return { kind: "reply", reply: comPortMessage(command + SERVER_REPLY_OFFSET, [...value]) };
  }
}

function controlChange(group: "outbound flow" | "dtr" | "rts" | "inbound flow", value: number): LineChange {
  switch (group) {
    case "dtr":
      return { setting: "dtr", on: value === 8 };
    case "rts":
      return { setting: "rts", on: value === 11 };
    case "outbound flow":
    case "inbound flow":
      return { setting: group, flow: FLOW_OF[value] ?? "other" };
  }
}
