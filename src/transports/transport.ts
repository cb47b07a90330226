/**
 * The contract every wire implements: bytes in, bytes out, a BREAK, and a close that says whether
 * the peer went away (`disconnected: true`) or we closed it ourselves.
 *
 *     ports/ ──open(sink)──> Transport ──> the wire
 *            <─sink.data──          <──
 *            <─sink.closed─
 *
 * Transports know nothing of SysRq, HTTP or reconnect policy: the port above them decides.
 */
import type { SerialSettings } from "../config/types.js";

export type TransportKind = "tty" | "telnet" | "rfc2217" | "exec" | "ipmi-sol";

export interface TransportClosed {
  /** true when the peer or device went away; false when close() was called. */
  readonly disconnected: boolean;
  readonly error?: Error;
}

export interface TransportSink {
  data(chunk: Buffer): void;
  closed(info: TransportClosed): void;
}

export type BreakMethod =
  | "tty-ioctl"
  | "telnet-brk"
  | "rfc2217-set-control"
  | "qmp-chardev-send-break"
  /** Bytes a program turns into a break (telnet's `send brk`), from transport.break. */
  | "exec-sequence"
  /** ipmitool's SOL escape `~B` after a line start (transports/ipmi-sol.ts). */
  | "ipmi-sol";

export interface BreakCapability {
  readonly available: boolean;
  readonly method?: BreakMethod;
  /** Why a BREAK cannot be sent, or what it means on this wire. */
  readonly reason?: string;
  /**
   * False where the transport has setBreak() but cannot hold a BREAK now: an RFC 2217 server that
   * refused COM-PORT-OPTION takes only IAC BRK, a BREAK without a duration.
   */
  readonly held?: boolean;
}

/** A serial line as it is now: the configured settings, changed by what was applied since open. */
export interface SerialLine extends SerialSettings {
  readonly flowControl: "none" | "rtscts";
  readonly dtr: boolean;
  readonly rts: boolean;
}

export type FlowControl = "none" | "xonxoff" | "rtscts" | "other";

/** One change a client asks of a serial line (an RFC 2217 request, decoded). */
export type LineChange =
  | { readonly setting: "baudrate"; readonly baudRate: number }
  | { readonly setting: "datasize"; readonly dataBits: number }
  | { readonly setting: "parity"; readonly parity: SerialLine["parity"] | "unknown" }
  | { readonly setting: "stopsize"; readonly stopBits: number }
  | { readonly setting: "dtr" | "rts"; readonly on: boolean }
  | { readonly setting: "outbound flow" | "inbound flow"; readonly flow: FlowControl };

export interface LineControl {
  current(): SerialLine;
  /** Applies one change, or rejects saying why it cannot (the line is then unchanged). */
  apply(change: LineChange): Promise<void>;
}

/** The modem status lines a serial device reads (TIOCMGET), as RFC 2217's NOTIFY-MODEMSTATE reports them. */
export interface ModemLines {
  readonly cts: boolean;
  readonly dsr: boolean;
  readonly ri: boolean;
  readonly cd: boolean;
}

export interface Transport {
  readonly kind: TransportKind;
  /** Human description of the far end (device path or host:port), for logs and state. */
  readonly target: string;
  /** Connects; rejects with an error carrying an errno-style `code` (ENOENT, EACCES, ECONNREFUSED ...). */
  open(sink: TransportSink): Promise<void>;
  /** Resolves once the bytes have been handed to the OS (drained for a tty). */
  write(data: Uint8Array): Promise<void>;
  /** Sends one BREAK condition held for `holdMs` where the wire has a notion of duration. */
  sendBreak(holdMs: number): Promise<void>;
  /**
   * Where the BREAK travels in-band (telnet IAC BRK): the BREAK and then `data` in one write, so the
   * far end reads them together, as from a client that writes IAC BRK and the key at once.
   */
  sendBreakThen?(holdMs: number, data: Uint8Array): Promise<void>;
  /**
   * Where the wire can hold a BREAK until told otherwise (a tty: TIOCSBRK ... TIOCCBRK; an RFC 2217
   * server: SET-CONTROL 5 ... 6): puts the line into BREAK (`true`) or out of it. Absent, or
   * breakCapability().held false, where a BREAK has no duration the sender controls (telnet IAC
   * BRK): callers send one sendBreak() there instead.
   */
  setBreak?(on: boolean): Promise<void>;
  /** A serial line's settings, and the changes the wire can make while open (a tty). */
  readonly line?: LineControl;
  /** The device's modem status lines now; absent where the wire has none (telnet). */
  modemLines?(): Promise<ModemLines>;
  /**
   * Sets the terminal size the far end's program sees (an exec port's pty); absent where the wire
   * has no window (a serial line, telnet, pipes).
   */
  resize?(cols: number, rows: number): void;
  /** Valid after open(); before it, what is known from configuration. */
  breakCapability(): BreakCapability;
  close(): Promise<void>;
}

/** An error from open() that the port should show as its state reason and retry. */
export class TransportOpenError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TransportOpenError";
    this.code = code;
  }
}

/** What a transport may need from outside the wire, supplied by the port that owns it. */
export interface TransportContext {
  /** The pty path of a QEMU chardev, from QMP query-chardev. */
  readonly resolveChardevPath?: (chardev: string) => Promise<string>;
  /** The port's logger, for what a transport notices without failing (a lock it could not take). */
  readonly log?: TransportLog;
}

/** A port's logger as transports use it; `warnOnce` speaks once per port, not on every reconnect. */
export interface TransportLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  warnOnce(key: string, details: object, message: string): void;
}
