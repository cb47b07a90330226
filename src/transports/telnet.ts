/**
 * Telnet over TCP or a unix socket: QEMU's telnet-mode chardev, ser2net, terminal servers.
 *
 *   socket ──bytes──> TelnetDecoder ──data──> sink.data
 *                                    └─negotiation──> TelnetOptions (standard mode only) ──> socket
 *   write(data) ──escapeData──> socket          sendBreak() ──IAC BRK──> socket
 *
 * With ComPortOptions (RFC 2217) the client offers WILL COM-PORT-OPTION, sends the line settings
 * once the server says DO, and sends BREAK as SET-CONTROL on/off; a server that refuses gets IAC BRK.
 *
 * In QEMU mode nothing but data and IAC BRK is ever sent: QEMU reads any other IAC sequence as three
 * bytes, eating the one after it, and passes subnegotiation payloads into the guest.
 */
import type { SerialSettings } from "../config/types.js";
import net from "node:net";
import type { TelnetTransportConfig } from "../config/types.js";
import { setTimeout as sleep } from "node:timers/promises";
import { COM_PORT_OPTION, breakMessage, lineSettingsMessages } from "../telnet/rfc2217.js";
import { BREAK_BYTES, DO, TelnetDecoder, escapeData } from "../telnet/codec.js";
import { TelnetOptions } from "../telnet/options.js";
import { TransportOpenError, type BreakCapability, type Transport, type TransportSink } from "./transport.js";

/** RFC 2217 on top of standard telnet: line settings at connect, BREAK as SET-CONTROL on/off. */
export interface ComPortOptions {
  readonly line: SerialSettings;
}

export class TelnetTransport implements Transport {
  readonly kind: "telnet" | "rfc2217";
  readonly target: string;
  private socket: net.Socket | null = null;
  private closing = false;
  /** RFC 2217 only: null until the server answers our WILL COM-PORT-OPTION; false if it refused. */
  private comPortAccepted: boolean | null = null;

  constructor(
    private readonly config: TelnetTransportConfig,
    private readonly comPort?: ComPortOptions,
  ) {
    this.kind = comPort ? "rfc2217" : "telnet";
    const e = config.endpoint;
    this.target = "path" in e ? e.path : `${e.host}:${e.port}`;
  }

  open(sink: TransportSink): Promise<void> {
    const e = this.config.endpoint;
    const socket = "path" in e ? net.connect({ path: e.path }) : net.connect({ host: e.host, port: e.port });
    socket.setNoDelay(true);
    this.closing = false;
    return new Promise((resolve, reject) => {
      const onConnectError = (err: NodeJS.ErrnoException): void => {
        socket.destroy();
        reject(
          new TransportOpenError(err.code ?? "EIO", `cannot connect to ${this.target}: ${err.message}`, {
            cause: err,
          }),
        );
      };
      socket.once("error", onConnectError);
      socket.once("connect", () => {
        socket.off("error", onConnectError);
        this.socket = socket;
        this.attach(socket, sink);
        resolve();
      });
    });
  }

  private attach(socket: net.Socket, sink: TransportSink): void {
    const decoder = new TelnetDecoder(this.config.mode);
    const policy =
      this.config.mode === "standard" ? TelnetOptions.client(this.comPort ? [COM_PORT_OPTION] : []) : null;
    this.comPortAccepted = null;
    if (policy && this.comPort) socket.write(policy.offer(COM_PORT_OPTION));
    let lastError: Error | undefined;
    socket.on("data", (chunk: Buffer) => {
      for (const event of decoder.decode(chunk)) {
        if (event.type === "data") sink.data(event.bytes);
        else if (event.type === "overflow") {
          // A far end that never ends its subnegotiation is broken or hostile: reconnect, bounded.
          socket.destroy(new Error(`${this.target} sent a telnet subnegotiation over ${event.limit} bytes`));
          return;
        } else if (event.type === "negotiation" && policy) {
          if (this.comPort && event.option === COM_PORT_OPTION)
            this.onComPortAnswer(socket, event.verb === DO);
          const answer = policy.answer(event.verb, event.option);
          if (answer) socket.write(answer);
        }
      }
    });
    socket.on("error", (err) => {
      lastError = err;
    });
    socket.on("close", () => {
      if (this.socket === socket) this.socket = null;
      sink.closed(
        this.closing
          ? { disconnected: false }
          : { disconnected: true, ...(lastError ? { error: lastError } : {}) },
      );
    });
  }

  private onComPortAnswer(socket: net.Socket, accepted: boolean): void {
    if (this.comPortAccepted === accepted) return;
    this.comPortAccepted = accepted;
    if (accepted && this.comPort) socket.write(lineSettingsMessages(this.comPort.line));
  }

  write(data: Uint8Array): Promise<void> {
    return this.send(escapeData(data));
  }

  async sendBreak(holdMs: number): Promise<void> {
    if (this.comPortAccepted) {
      // RFC 2217: the server holds the line in BREAK between SET-CONTROL 5 and 6 (TIOCSBRK/TIOCCBRK).
      await this.send(breakMessage(true));
      try {
        await sleep(holdMs);
      } finally {
        await this.send(breakMessage(false));
      }
      return;
    }
    // Telnet BREAK has no duration: QEMU turns it into one UART break event.
    await this.send(BREAK_BYTES);
  }

  /** RFC 2217 only, once the server accepted COM-PORT-OPTION: SET-CONTROL 5 (on) or 6 (off). */
  setBreak(on: boolean): Promise<void> {
    if (!this.comPortAccepted) {
      return Promise.reject(
        new Error(`${this.target} takes no RFC 2217 SET-CONTROL: a BREAK cannot be held`),
      );
    }
    return this.send(breakMessage(on));
  }

  sendBreakThen(holdMs: number, data: Uint8Array): Promise<void> {
    if (this.comPortAccepted) return this.sendBreak(holdMs).then(() => this.write(data));
    return this.send(Buffer.concat([BREAK_BYTES, escapeData(data)]));
  }

  private send(bytes: Buffer): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error(`${this.target} is not connected`));
    return new Promise((resolve, reject) => {
      socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  breakCapability(): BreakCapability {
    if (this.comPort) {
      return this.comPortAccepted
        ? {
            available: true,
            method: "rfc2217-set-control",
            reason: "RFC 2217 SET-CONTROL break on/off, held breakMs",
            held: true,
          }
        : {
            available: true,
            method: "telnet-brk",
            reason: "the server did not accept COM-PORT-OPTION (RFC 2217); falling back to IAC BRK",
            held: false,
          };
    }
    return {
      available: true,
      method: "telnet-brk",
      held: false,
      reason:
        this.config.mode === "qemu"
          ? "IAC BRK: QEMU's telnet chardev raises a break on the guest UART (its length is QEMU's, not breakMs)"
          : "IAC BRK: the terminal server decides how long the break on its serial line lasts",
    };
  }

  close(): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    this.closing = true;
    return new Promise((resolve) => {
      socket.once("close", () => resolve());
      socket.end();
      socket.destroySoon();
      setTimeout(() => socket.destroy(), 500).unref();
    });
  }
}
