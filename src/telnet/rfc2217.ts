/**
 * RFC 2217 (Telnet Com Port Control) messages and their code tables, for both ends. Pure.
 *
 *   IAC SB COM-PORT-OPTION <command> <value...> IAC SE      client -> server: command
 *                                                            server -> client: command + 100, value applied
 *
 * The client (transports/telnet.ts) sends line settings and BREAK; the server (export/com-port-state.ts)
 * decodes them with the same tables and answers.
 */
import type { SerialSettings } from "../config/types.js";
import { IAC, SB, SE, escapeData } from "./codec.js";

export const COM_PORT_OPTION = 44;

/** Client -> server command codes; the server answers each with the code + SERVER_REPLY_OFFSET. */
export const ComPortCommand = {
  SIGNATURE: 0,
  SET_BAUDRATE: 1,
  SET_DATASIZE: 2,
  SET_PARITY: 3,
  SET_STOPSIZE: 4,
  SET_CONTROL: 5,
  /** A client's poll for the modem lines (pyserial's poll_modem); answered with the server's NOTIFY. */
  NOTIFY_MODEMSTATE: 7,
  SET_LINESTATE_MASK: 10,
  SET_MODEMSTATE_MASK: 11,
  PURGE_DATA: 12,
} as const;

export const SERVER_REPLY_OFFSET = 100;

/** SET-PARITY codes; 0 asks for the current value. */
const PARITY_CODE = { none: 1, odd: 2, even: 3, mark: 4, space: 5 } as const;
/** SET-STOPSIZE codes; 0 asks for the current value. */
const STOP_SIZE_CODE = { 1: 1, 2: 2, 1.5: 3 } as const;

export type Parity = SerialSettings["parity"];

export function parityCode(parity: Parity): number {
  return PARITY_CODE[parity];
}

/** The parity a SET-PARITY code sets, "unknown" for a code RFC 2217 does not define. */
export function parityOfCode(code: number): Parity | "unknown" {
  return (Object.keys(PARITY_CODE) as Parity[]).find((parity) => PARITY_CODE[parity] === code) ?? "unknown";
}

export function stopSizeCode(stopBits: SerialSettings["stopBits"]): number {
  return STOP_SIZE_CODE[stopBits];
}

/** The stop bits a SET-STOPSIZE code sets, 0 for a code RFC 2217 does not define. */
export function stopBitsOfCode(code: number): number {
  const stop = (Object.keys(STOP_SIZE_CODE) as `${SerialSettings["stopBits"]}`[]).find(
    (bits) => STOP_SIZE_CODE[bits] === code,
  );
  return stop === undefined ? 0 : Number(stop);
}

/** SET-CONTROL values for the BREAK state. */
export const BREAK_ON = 5;
export const BREAK_OFF = 6;
export const DTR_ON = 8;
export const RTS_ON = 11;

/** SET-CONTROL: per setting, the value that asks for the current one and the values that set it. */
export const CONTROL_GROUPS = [
  { name: "outbound flow", query: 0, values: [1, 2, 3, 17, 18, 19] },
  { name: "break", query: 4, values: [BREAK_ON, BREAK_OFF] },
  { name: "dtr", query: 7, values: [DTR_ON, 9] },
  { name: "rts", query: 10, values: [RTS_ON, 12] },
  { name: "inbound flow", query: 13, values: [14, 15, 16] },
] as const;

export type ControlGroup = (typeof CONTROL_GROUPS)[number]["name"];

/** SET-CONTROL flow values; 17-19 (DCD, DTR, DSR flow) are none of these. */
export const FLOW_OF_CONTROL: Readonly<Record<number, "none" | "xonxoff" | "rtscts">> = {
  1: "none",
  2: "xonxoff",
  3: "rtscts",
  14: "none",
  15: "xonxoff",
  16: "rtscts",
};

/** One COM-PORT-OPTION subnegotiation; IAC in the value is doubled. */
export function comPortMessage(command: number, value: readonly number[]): Buffer {
  const head = Buffer.from([IAC, SB, COM_PORT_OPTION, command]);
  return Buffer.concat([head, escapeData(Buffer.from(value)), Buffer.from([IAC, SE])]);
}

/** Server -> client: the answer to `command` (its code + 100). */
export function serverMessage(command: number, value: readonly number[]): Buffer {
  return comPortMessage(command + SERVER_REPLY_OFFSET, value);
}

export function lineSettingsMessages(settings: SerialSettings): Buffer {
  const baud = Buffer.alloc(4);
  baud.writeUInt32BE(settings.baudRate);
  return Buffer.concat([
    comPortMessage(ComPortCommand.SET_BAUDRATE, [...baud]),
    comPortMessage(ComPortCommand.SET_DATASIZE, [settings.dataBits]),
    comPortMessage(ComPortCommand.SET_PARITY, [parityCode(settings.parity)]),
    comPortMessage(ComPortCommand.SET_STOPSIZE, [stopSizeCode(settings.stopBits)]),
  ]);
}

const MODEM_BITS = { cd: 0x80, ri: 0x40, dsr: 0x20, cts: 0x10 } as const;

/** Server -> client NOTIFY-MODEMSTATE: the lines' states (the delta bits stay 0). */
export function modemStateMessage(lines: Record<keyof typeof MODEM_BITS, boolean>): Buffer {
  const keys = Object.keys(MODEM_BITS) as (keyof typeof MODEM_BITS)[];
  const state = keys.reduce((bits, line) => (lines[line] ? bits | MODEM_BITS[line] : bits), 0);
  return serverMessage(ComPortCommand.NOTIFY_MODEMSTATE, [state]);
}

export function breakMessage(on: boolean): Buffer {
  return comPortMessage(ComPortCommand.SET_CONTROL, [on ? BREAK_ON : BREAK_OFF]);
}
