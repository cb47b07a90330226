/**
 * The server side of RFC 2217's COM-PORT-OPTION commands, pure: what to answer to each command, and
 * which ones need the port (BREAK on). Every answer is the command + 100 with the value in effect.
 *
 *   client: IAC SB 44 <cmd> <value> IAC SE  ->  server: IAC SB 44 <cmd+100> <value> IAC SE
 *
 * Line settings (baud, framing, DTR/RTS, flow) are never applied here: the answer echoes the requested
 * value (pyserial fails its open unless the answer starts with the value it asked for) and says it
 * was not applied. A request for the current value (0, or SET-CONTROL 0/4/7/10/13) gets the port's
 * real setting where it has one.
 */
import { BREAK_OFF, BREAK_ON, ComPortCommand, comPortMessage } from "../transports/rfc2217-codec.js";
import type { LineSettings } from "../transports/rfc2217-codec.js";

export const SERVER_REPLY_OFFSET = 100;
const SIGNATURE = 0;
const SET_LINESTATE_MASK = 10;
const SET_MODEMSTATE_MASK = 11;
const PURGE_DATA = 12;

const PARITY_CODE = { none: 1, odd: 2, even: 3, mark: 4, space: 5 } as const;
const STOP_CODE = { 1: 1, 2: 2, 1.5: 3 } as const;

/** SET-CONTROL values: a query and the settings it reads. */
const CONTROL_GROUPS = [
  { name: "outbound flow", query: 0, values: [1, 2, 3, 17, 18, 19] },
  { name: "break", query: 4, values: [BREAK_ON, BREAK_OFF] },
  { name: "dtr", query: 7, values: [8, 9] },
  { name: "rts", query: 10, values: [11, 12] },
  { name: "inbound flow", query: 13, values: [14, 15, 16] },
] as const;

export type ComPortAction =
  | {
      readonly kind: "reply";
      readonly reply: Buffer;
      /** A line setting echoed but not applied: the caller audits it. */
      readonly notApplied?: { readonly setting: string; readonly value: number };
    }
  | { readonly kind: "break-on" }
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
  private readonly line: LineSettings;

  /** @param real the port's line settings, null where it has none (a QEMU chardev) */
  constructor(
    real: LineSettings | null,
    private readonly signature: string,
  ) {
    this.line = real ?? NOMINAL;
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
        return this.echo(command, value.subarray(0, 4), "baudrate", baud);
      }
      case ComPortCommand.SET_DATASIZE:
        return first === 0
          ? this.reply(command, [this.line.dataBits])
          : this.echo(command, [first], "datasize", first);
      case ComPortCommand.SET_PARITY:
        return first === 0
          ? this.reply(command, [PARITY_CODE[this.line.parity]])
          : this.echo(command, [first], "parity", first);
      case ComPortCommand.SET_STOPSIZE:
        return first === 0
          ? this.reply(command, [STOP_CODE[this.line.stopBits]])
          : this.echo(command, [first], "stopsize", first);
      case ComPortCommand.SET_CONTROL:
        return this.setControl(first);
      case SET_LINESTATE_MASK:
      case SET_MODEMSTATE_MASK:
      case PURGE_DATA:
        // Nothing is buffered in the daemon beyond what is already on its way: purging is a no-op.
        return this.reply(command, [first]);
      default:
        return { kind: "none" }; // notifications (FLOWCONTROL-SUSPEND/RESUME) and unknown commands
    }
  }

  /** The answer to SET-CONTROL BREAK-ON once the port has (or has not) sent the BREAK. */
  breakAnswer(sent: boolean): Buffer {
    return this.controlReply(sent ? BREAK_ON : BREAK_OFF).reply;
  }

  private setControl(value: number): ComPortAction {
    if (value === BREAK_ON) return { kind: "break-on" };
    const group = CONTROL_GROUPS.find(
      (g) => g.query === value || (g.values as readonly number[]).includes(value),
    );
    if (group === undefined) return this.reply(ComPortCommand.SET_CONTROL, [value]);
    if (group.query === value) return this.controlReply(this.control.get(group.name) ?? value);
    if (value === BREAK_OFF) return this.controlReply(BREAK_OFF);
    this.control.set(group.name, value);
    return { ...this.controlReply(value), notApplied: { setting: group.name, value } };
  }

  private controlReply(value: number): { kind: "reply"; reply: Buffer } {
    if (value === BREAK_ON || value === BREAK_OFF) this.control.set("break", value);
    return this.reply(ComPortCommand.SET_CONTROL, [value]);
  }

  private echo(command: number, value: Iterable<number>, setting: string, requested: number): ComPortAction {
    return { ...this.reply(command, value), notApplied: { setting, value: requested } };
  }

  private reply(command: number, value: Iterable<number>): { kind: "reply"; reply: Buffer } {
    return { kind: "reply", reply: comPortMessage(command + SERVER_REPLY_OFFSET, [...value]) };
  }
}
