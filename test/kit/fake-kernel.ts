/**
 * A fake wire for tests of the layers above transports: it answers BREAK + key the way
 * drivers/tty/serial/serial_core.c and sysrq.c do (arm on BREAK, a BREAK while armed cancels, the
 * key within 5 s runs the op, kernel.sysrq masks it). Real-kernel behaviour is proven in test/e2e.
 */
import type { TransportConfig } from "../../src/config/types.js";
import { keyAllowedByMask, keyInfo } from "../../src/sysrq/keys.js";
import type { BreakCapability, Transport, TransportSink } from "../../src/transports/transport.js";

export type WireOp = { readonly op: "break" } | { readonly op: "write"; readonly bytes: Buffer };

export class FakeKernel {
  /** Every operation that reached the wire, across reconnects. */
  readonly wire: WireOp[] = [];
  readonly transports: FakeKernelTransport[] = [];
  armedAt: number | null = null;
  /** Delay before the kernel's answer, to let concurrent requests overlap. */
  answerDelayMs = 2;
  /** When false, open() fails with ECONNREFUSED. */
  reachable = true;
  /** When set, BREAKs after this many fail as a broken link would (EPIPE). */
  breaksBeforeFailure: number | null = null;
  /** When true, BREAKs never complete, as on a tty whose writes are held up by flow control. */
  stalled = false;
  /** The BREAK method the transports report. */
  breakMethod: NonNullable<BreakCapability["method"]> = "telnet-brk";

  constructor(public sysrqMask = 1) {}

  factory = (config: TransportConfig): Transport => {
    const transport = new FakeKernelTransport(this, config);
    this.transports.push(transport);
    return transport;
  };
}

export class FakeKernelTransport implements Transport {
  readonly kind: Transport["kind"];
  readonly target = "fake-kernel";
  private sink: TransportSink | null = null;

  constructor(
    private readonly kernel: FakeKernel,
    config: TransportConfig,
  ) {
    this.kind = config.kind;
  }

  open(sink: TransportSink): Promise<void> {
    if (!this.kernel.reachable)
      return Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
    this.sink = sink;
    return Promise.resolve();
  }

  /** Prints a line on the console as the target would. */
  print(text: string): void {
    this.sink?.data(Buffer.from(text, "latin1"));
  }

  /** The target goes away (QEMU exits). */
  disconnect(): void {
    const sink = this.sink;
    this.sink = null;
    sink?.closed({ disconnected: true });
  }

  sendBreak(): Promise<void> {
    if (this.kernel.stalled) return new Promise(() => undefined);
    if (this.kernel.breaksBeforeFailure !== null) {
      if (this.kernel.breaksBeforeFailure === 0) return Promise.reject(new Error("write EPIPE"));
      this.kernel.breaksBeforeFailure -= 1;
    }
    this.kernel.wire.push({ op: "break" });
    this.kernel.armedAt = this.kernel.armedAt === null ? Date.now() : null;
    return Promise.resolve();
  }

  write(data: Uint8Array): Promise<void> {
    const bytes = Buffer.from(data);
    this.kernel.wire.push({ op: "write", bytes });
    for (const byte of bytes) this.receive(String.fromCharCode(byte));
    return Promise.resolve();
  }

  private receive(ch: string): void {
    const armedAt = this.kernel.armedAt;
    this.kernel.armedAt = null;
    if (armedAt !== null && Date.now() - armedAt < 5000 && this.kernel.sysrqMask !== 0) {
      setTimeout(() => this.answer(ch), this.kernel.answerDelayMs);
    } else {
      this.print(ch); // the shell echoes typed input
    }
  }

  private answer(key: string): void {
    const info = keyInfo(key);
    const stamp = "[   10.000000] ";
    if (info.action === "HELP")
      return this.print(`${stamp}sysrq: HELP : loglevel(0-9) reboot(b) sync(s) show-memory-usage(m) \r\n`);
    if (!keyAllowedByMask(key, this.kernel.sysrqMask))
      return this.print(`${stamp}sysrq: This sysrq operation is disabled.\r\n`);
    this.print(`${stamp}sysrq: ${info.action}\r\n`);
    if (info.completion) setTimeout(() => this.print(`${stamp}${info.completion}\r\n`), 5);
    if (key === "b") setTimeout(() => this.disconnect(), 5);
  }

  breakCapability(): BreakCapability {
    return { available: true, method: this.kernel.breakMethod };
  }

  close(): Promise<void> {
    const sink = this.sink;
    this.sink = null;
    sink?.closed({ disconnected: false });
    return Promise.resolve();
  }
}
