/**
 * RFC 2217 (Telnet Com Port Control) messages, as bytes. Pure.
 *
 *   IAC SB COM-PORT-OPTION <command> <value...> IAC SE      client -> server: command
 *                                                            server -> client: command + 100, value applied
 */
import type { SerialSettings as LineSettings } from "../config/types.js";
import { IAC, SB, SE } from "./telnet-codec.js";

export const COM_PORT_OPTION = 44;

export const ComPortCommand = {
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
} as const;

/** SET-CONTROL values for the BREAK state. */
export const BREAK_ON = 5;
export const BREAK_OFF = 6;

const PARITY = { none: 1, odd: 2, even: 3, mark: 4, space: 5 } as const;
const STOP_SIZE = { 1: 1, 2: 2, 1.5: 3 } as const;

/** config/types.ts SerialSettings: one type for the configured, the tty's and the negotiated line. */
export type { LineSettings };

/** One COM-PORT-OPTION subnegotiation; IAC in the value is doubled. */
export function comPortMessage(command: number, value: readonly number[]): Buffer {
  const escaped = value.flatMap((b) => (b === IAC ? [IAC, IAC] : [b]));
  return Buffer.from([IAC, SB, COM_PORT_OPTION, command, ...escaped, IAC, SE]);
}

export function lineSettingsMessages(settings: LineSettings): Buffer {
  const baud = Buffer.alloc(4);
  baud.writeUInt32BE(settings.baudRate);
  return Buffer.concat([
    comPortMessage(ComPortCommand.SET_BAUDRATE, [...baud]),
    comPortMessage(ComPortCommand.SET_DATASIZE, [settings.dataBits]),
    comPortMessage(ComPortCommand.SET_PARITY, [PARITY[settings.parity]]),
    comPortMessage(ComPortCommand.SET_STOPSIZE, [STOP_SIZE[settings.stopBits]]),
  ]);
}

/** A client's poll for the modem lines (pyserial's poll_modem); answered with the server's NOTIFY. */
export const NOTIFY_MODEMSTATE = 7;
const SERVER_NOTIFY_MODEMSTATE = NOTIFY_MODEMSTATE + 100;
const MODEM_BITS = { cd: 0x80, ri: 0x40, dsr: 0x20, cts: 0x10 } as const;

/** Server -> client NOTIFY-MODEMSTATE: the lines' states (the delta bits stay 0). */
export function modemStateMessage(lines: Record<keyof typeof MODEM_BITS, boolean>): Buffer {
  const keys = Object.keys(MODEM_BITS) as (keyof typeof MODEM_BITS)[];
  const state = keys.reduce((bits, line) => (lines[line] ? bits | MODEM_BITS[line] : bits), 0);
  return comPortMessage(SERVER_NOTIFY_MODEMSTATE, [state]);
}

export function breakMessage(on: boolean): Buffer {
  return comPortMessage(ComPortCommand.SET_CONTROL, [on ? BREAK_ON : BREAK_OFF]);
}
