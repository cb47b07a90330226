/**
 * Telnet byte codec (RFC 854), in two modes.
 *
 *   standard: RFC 854 both ways. IAC IAC is a data 0xFF, IAC <cmd> a command, IAC WILL/WONT/DO/DONT
 *             <opt> a negotiation, IAC SB ... IAC SE a subnegotiation (payload un-doubled).
 *   qemu:     QEMU's telnet chardev (7.2) opens with IAC WILL ECHO, WILL SGA, WILL BINARY, DO BINARY
 *             and afterwards sends the guest's bytes unescaped (a guest 0xFF arrives bare). So only
 *             negotiations at the very start of the stream are parsed; the rest is data, passed through
 *             without a copy.
 *
 * Toward either peer, data is escaped (0xFF doubled) and BREAK is IAC BRK. The decoder is a pure state
 * machine over chunks: a sequence split across reads decodes the same as in one read.
 *
 * decode() takes the chunk over, as a socket's 'data' handler can give it (each read is a buffer of its
 * own): the data it returns are views of the chunk, un-escaped in place rather than copied out.
 *
 * A subnegotiation longer than MAX_SUBNEGOTIATION_BYTES (an IAC SB never followed by IAC SE) is a
 * hostile or broken peer: the decoder emits one `overflow` event and decodes nothing more, so its
 * memory stays bounded whatever the peer sends; the caller drops the connection.
 */
import type { TelnetMode } from "../config/types.js";

export const IAC = 0xff;
export const DONT = 0xfe;
export const DO = 0xfd;
export const WONT = 0xfc;
export const WILL = 0xfb;
export const SB = 0xfa;
export const BRK = 0xf3;
export const SE = 0xf0;

export const OPT_BINARY = 0;
export const OPT_ECHO = 1;
export const OPT_SGA = 3;

export type Negotiation = typeof WILL | typeof WONT | typeof DO | typeof DONT;

export type TelnetEvent =
  | { readonly type: "data"; readonly bytes: Buffer }
  | { readonly type: "command"; readonly command: number }
  | { readonly type: "negotiation"; readonly verb: Negotiation; readonly option: number }
  | { readonly type: "subnegotiation"; readonly option: number; readonly payload: Buffer }
  | { readonly type: "overflow"; readonly limit: number };

/** The longest subnegotiation payload kept: NAWS is 4 bytes, a terminal type or RFC 2217 value tens. */
export const MAX_SUBNEGOTIATION_BYTES = 4096;

/** QEMU's opening is four negotiations; after it everything is data. */
const QEMU_OPENING_NEGOTIATIONS = 4;

type State = "data" | "iac" | "negotiate" | "sb-option" | "sb-data" | "sb-iac" | "overflowed";

export class TelnetDecoder {
  private state: State = "data";
  private verb: Negotiation = WILL;
  private sbOption = 0;
  /** Allocated at the first subnegotiation and reused; `sbLength` bytes of it are the payload so far. */
  private sbPayload: Buffer | null = null;
  private sbLength = 0;
  /** qemu mode: how many opening negotiations are still to be parsed before raw pass-through. */
  private qemuOpeningLeft: number;

  constructor(
    readonly mode: TelnetMode,
    private readonly maxSubnegotiation = MAX_SUBNEGOTIATION_BYTES,
  ) {
    this.qemuOpeningLeft = mode === "qemu" ? QEMU_OPENING_NEGOTIATIONS : 0;
  }

  decode(chunk: Buffer): TelnetEvent[] {
    if (this.state === "overflowed") return [];
    if (this.mode === "qemu") return this.decodeQemu(chunk);
    return this.decodeStandard(chunk);
  }

  private decodeQemu(chunk: Buffer): TelnetEvent[] {
    if (this.qemuOpeningLeft === 0 && this.state === "data") return [{ type: "data", bytes: chunk }];
    const events: TelnetEvent[] = [];
    let i = 0;
    while (i < chunk.length && (this.qemuOpeningLeft > 0 || this.state !== "data")) {
      const byte = chunk[i] as number;
      if (this.state === "data") {
        if (byte !== IAC) {
          this.qemuOpeningLeft = 0; // guest data before the opening finished: the opening is over
          break;
        }
        this.state = "iac";
      } else if (this.state === "iac") {
        if (byte >= WILL && byte <= DONT) {
          this.verb = byte as Negotiation;
          this.state = "negotiate";
        } else {
          // Not a negotiation: QEMU sends none; treat the IAC and this byte as data.
          this.state = "data";
          this.qemuOpeningLeft = 0;
          events.push({ type: "data", bytes: Buffer.from([IAC]) });
          break;
        }
      } else {
        events.push({ type: "negotiation", verb: this.verb, option: byte });
        this.state = "data";
        this.qemuOpeningLeft -= 1;
      }
      i += 1;
    }
    if (i < chunk.length) events.push({ type: "data", bytes: chunk.subarray(i) });
    return events;
  }

  private decodeStandard(chunk: Buffer): TelnetEvent[] {
    // Fast path: plain data with no IAC in it and no sequence pending.
    if (this.state === "data" && chunk.indexOf(IAC) === -1) return [{ type: "data", bytes: chunk }];
    const events: TelnetEvent[] = [];
    // The data between escapes is moved down in place (the decoded stream is never longer than the
    // wire's), one data event per stretch without commands: binary data full of IAC IAC must not become
    // hundreds of events, nor a buffer and a copy per read.
    let written = 0;
    let emitted = 0;
    let dataStart = 0;
    for (let i = 0; i < chunk.length; i += 1) {
      switch (this.state) {
        case "data": {
          // Skip to the next IAC in one native search rather than byte by byte.
          const next = chunk.indexOf(IAC, i);
          if (next === -1) {
            i = chunk.length;
            break;
          }
          i = next;
          written = moveDown(chunk, written, dataStart, i);
          this.state = "iac";
          break;
        }
        case "iac": {
          const byte = chunk[i] as number;
          dataStart = i + 1;
          if (byte === IAC) {
            chunk[written++] = IAC;
            this.state = "data";
          } else if (byte >= WILL && byte <= DONT) {
            this.verb = byte as Negotiation;
            this.state = "negotiate";
          } else if (byte === SB) {
            this.state = "sb-option";
          } else {
            emitted = emitData(events, chunk, emitted, written);
            events.push({ type: "command", command: byte });
            this.state = "data";
          }
          break;
        }
        case "negotiate":
          emitted = emitData(events, chunk, emitted, written);
          events.push({ type: "negotiation", verb: this.verb, option: chunk[i] as number });
          this.state = "data";
          dataStart = i + 1;
          break;
        case "sb-option":
          this.sbOption = chunk[i] as number;
          this.sbPayload ??= Buffer.allocUnsafe(this.maxSubnegotiation);
          this.sbLength = 0;
          this.state = "sb-data";
          break;
        case "sb-data": {
          // Copy up to the next IAC in one go, within the bound.
          const next = chunk.indexOf(IAC, i);
          const end = next === -1 ? chunk.length : next;
          if (!this.sbAppend(chunk, i, end)) return this.overflow(events, chunk, emitted, written);
          i = end;
          if (next !== -1) this.state = "sb-iac";
          break;
        }
        case "sb-iac": {
          const byte = chunk[i] as number;
          if (byte === IAC) {
            if (!this.sbAppend(chunk, i, i + 1)) return this.overflow(events, chunk, emitted, written);
            this.state = "sb-data";
          } else {
            // IAC SE ends it; any other command also ends a malformed subnegotiation.
            emitted = emitData(events, chunk, emitted, written);
            events.push({
              type: "subnegotiation",
              option: this.sbOption,
              payload: Buffer.from((this.sbPayload as Buffer).subarray(0, this.sbLength)),
            });
            this.sbLength = 0;
            this.state = "data";
            dataStart = i + 1;
            if (byte !== SE) events.push({ type: "command", command: byte });
          }
          break;
        }
        case "overflowed":
          return events; // unreachable: set only by overflow(), which returns
      }
    }
    if (this.state === "data") written = moveDown(chunk, written, dataStart, chunk.length);
    emitData(events, chunk, emitted, written);
    return events;
  }

  /** Appends chunk[from, to) to the subnegotiation; false when that would pass the bound. */
  private sbAppend(chunk: Buffer, from: number, to: number): boolean {
    const payload = this.sbPayload as Buffer;
    if (this.sbLength + (to - from) > this.maxSubnegotiation) return false;
    chunk.copy(payload, this.sbLength, from, to);
    this.sbLength += to - from;
    return true;
  }

  /** The data decoded before the overflow, then the overflow; nothing is decoded after it. */
  private overflow(events: TelnetEvent[], chunk: Buffer, emitted: number, written: number): TelnetEvent[] {
    emitData(events, chunk, emitted, written);
    events.push({ type: "overflow", limit: this.maxSubnegotiation });
    this.state = "overflowed";
    this.sbPayload = null;
    return events;
  }
}

/** Moves chunk[from, to) down to `at` (at <= from; the ranges may overlap); returns the end it reached. */
function moveDown(chunk: Buffer, at: number, from: number, to: number): number {
  if (to <= from) return at;
  if (at !== from) chunk.copyWithin(at, from, to);
  return at + (to - from);
}

/** Pushes the decoded bytes [emitted, written) as a data event, if any; returns the new `emitted`. */
function emitData(events: TelnetEvent[], chunk: Buffer, emitted: number, written: number): number {
  if (written > emitted) events.push({ type: "data", bytes: chunk.subarray(emitted, written) });
  return written;
}

/** Doubles every 0xFF so the peer reads it as data. Returns the input itself when there is none. */
export function escapeData(data: Uint8Array): Buffer {
  const input = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let count = 0;
  for (let at = input.indexOf(IAC); at !== -1; at = input.indexOf(IAC, at + 1)) count += 1;
  if (count === 0) return input;
  const out = Buffer.allocUnsafe(input.length + count);
  let o = 0;
  for (const byte of input) {
    out[o++] = byte;
    if (byte === IAC) out[o++] = IAC;
  }
  return out;
}

export const BREAK_BYTES: Buffer = Buffer.from([IAC, BRK]);

export function negotiationBytes(verb: Negotiation, option: number): Buffer {
  return Buffer.from([IAC, verb, option]);
}
