/**
 * Telnet over TCP or a unix socket: QEMU's telnet-mode chardev, ser2net, terminal servers.
 *
 *   socket ──bytes──> TelnetDecoder ──data──> sink.data
 *                                    └─negotiation──> NegotiationPolicy (standard mode only) ──> socket
 *   write(data) ──escapeData──> socket          sendBreak() ──IAC BRK──> socket
 *
 * In QEMU mode nothing but data and IAC BRK is ever sent: QEMU reads any other IAC sequence as three
 * bytes, eating the one after it, and passes subnegotiation payloads into the guest.
 */
import net from "node:net";
import type { TelnetTransportConfig } from "../config/types.js";
import { BREAK_BYTES, NegotiationPolicy, TelnetDecoder, escapeData } from "./telnet-codec.js";
import { TransportOpenError, type BreakCapability, type Transport, type TransportSink } from "./transport.js";

export class TelnetTransport implements Transport {
  readonly kind = "telnet" as const;
  readonly target: string;
  private socket: net.Socket | null = null;
  private closing = false;

  constructor(private readonly config: TelnetTransportConfig) {
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
    const policy = this.config.mode === "standard" ? new NegotiationPolicy() : null;
    let lastError: Error | undefined;
    socket.on("data", (chunk: Buffer) => {
      for (const event of decoder.decode(chunk)) {
        if (event.type === "data") sink.data(event.bytes);
        else if (event.type === "negotiation" && policy) {
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

  write(data: Uint8Array): Promise<void> {
    return this.send(escapeData(data));
  }

  sendBreak(_holdMs: number): Promise<void> {
    // Telnet BREAK has no duration: QEMU turns it into one UART break event.
    return this.send(BREAK_BYTES);
  }

  private send(bytes: Buffer): Promise<void> {
    const socket = this.socket;
    if (!socket) return Promise.reject(new Error(`${this.target} is not connected`));
    return new Promise((resolve, reject) => {
      socket.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  }

  breakCapability(): BreakCapability {
    return {
      available: true,
      method: "telnet-brk",
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
