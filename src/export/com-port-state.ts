/**
 * The server side of RFC 2217's COM-PORT-OPTION commands, pure: what to answer to each command, and
 * which ones need the port (BREAK on/off, line settings). Every answer is the command + 100.
 *
 *   client: IAC SB 44 <cmd> <value> IAC SE  ->  server: IAC SB 44 <cmd+100> <value> IAC SE
 *
 * A line setting (baud, framing, DTR/RTS, flow) comes out decoded as a LineChange for the port to
 * apply or not (allowLineControl); either way the answer echoes the requested value, since pyserial
 * fails its open unless the answer starts with the value it asked for. A request for the current
 * value (0, or SET-CONTROL 0/4/7/10/13) gets the port's real setting where it has one. The codes
 * and tables are telnet/rfc2217.ts's, shared with the client; this keeps what the client was told.
 */
import type { SerialSettings } from "../config/types.js";
import {
  BREAK_OFF,
  BREAK_ON,
  CONTROL_GROUPS,
  ComPortCommand,
  DTR_ON,
  FLOW_OF_CONTROL,
  RTS_ON,
  parityCode,
  parityOfCode,
  serverMessage,
  stopBitsOfCode,
  stopSizeCode,
  type ControlGroup,
} from "../telnet/rfc2217.js";
import type { LineChange } from "../transports/transport.js";

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
const NOMINAL: SerialSettings = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 };

export class ComPortState {
  /** The value last answered per SET-CONTROL group (what the client believes). */
  private readonly control = new Map<ControlGroup, number>([
    ["outbound flow", 1],
    ["break", BREAK_OFF],
    ["dtr", DTR_ON],
    ["rts", RTS_ON],
    ["inbound flow", 14],
  ]);

  /** @param real the port's line settings now, null where it has none (a QEMU chardev) */
  constructor(
    private readonly real: () => SerialSettings | null,
    private readonly signature: string,
  ) {}

  private get line(): SerialSettings {
    return this.real() ?? NOMINAL;
  }

  handle(command: number, value: Buffer): ComPortAction {
    const first = value[0] ?? 0;
    switch (command) {
      case ComPortCommand.SIGNATURE:
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
          ? this.reply(command, [parityCode(this.line.parity)])
          : this.echo(command, [first], first, { setting: "parity", parity: parityOfCode(first) });
      case ComPortCommand.SET_STOPSIZE:
        return first === 0
          ? this.reply(command, [stopSizeCode(this.line.stopBits)])
          : this.echo(command, [first], first, { setting: "stopsize", stopBits: stopBitsOfCode(first) });
      case ComPortCommand.SET_CONTROL:
        return this.setControl(first);
      case ComPortCommand.NOTIFY_MODEMSTATE:
        return { kind: "modem-state" };
      case ComPortCommand.SET_LINESTATE_MASK:
      case ComPortCommand.SET_MODEMSTATE_MASK:
      case ComPortCommand.PURGE_DATA:
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
    return { kind: "reply", reply: serverMessage(command, [...value]) };
  }
}

function controlChange(group: Exclude<ControlGroup, "break">, value: number): LineChange {
  switch (group) {
    case "dtr":
      return { setting: "dtr", on: value === DTR_ON };
    case "rts":
      return { setting: "rts", on: value === RTS_ON };
    case "outbound flow":
    case "inbound flow":
      return { setting: group, flow: FLOW_OF_CONTROL[value] ?? "other" };
  }
}
