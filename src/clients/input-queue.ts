/**
 * A console client's input and BREAKs, run one after another in arrival order (a BREAK typed after
 * some text goes out after that text), with consecutive input coalesced into one write. When more than
 * `limit` bytes wait, `pressure(true)` asks the caller to stop reading the socket (TCP backpressure
 * to the client) until they drain: input is never dropped for being fast.
 */
export type ConsoleOp =
  { readonly kind: "input"; readonly bytes: Buffer } | { readonly kind: "break"; readonly breakMs?: number };

export class ConsoleInputQueue {
  private readonly ops: ConsoleOp[] = [];
  private waitingBytes = 0;
  private running = false;
  private paused = false;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    private readonly run: (op: ConsoleOp) => Promise<void>,
    private readonly pressure: (paused: boolean) => void,
    private readonly limit: number,
  ) {}

  /** Queues `op`; input joins the input already waiting (one write). */
  push(op: ConsoleOp): void {
    const last = this.ops.at(-1);
    const joined = op.kind === "input" && last?.kind === "input";
    if (joined) {
      this.ops[this.ops.length - 1] = { kind: "input", bytes: Buffer.concat([last.bytes, op.bytes]) };
    } else {
      this.ops.push(op);
    }
    if (op.kind === "input") this.waitingBytes += op.bytes.length;
    this.applyPressure();
    if (!this.running) void this.drain();
  }

  /** True while an op waits or runs. */
  get busy(): boolean {
    return this.running;
  }

  /** Resolves once every op queued so far has run. */
  async idle(): Promise<void> {
    if (this.running) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    this.running = true;
    for (let op = this.ops.shift(); op !== undefined; op = this.ops.shift()) {
      try {
        await this.run(op);
      } finally {
        if (op.kind === "input") this.waitingBytes -= op.bytes.length;
        this.applyPressure();
      }
    }
    this.running = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private applyPressure(): void {
    const paused = this.waitingBytes > this.limit;
    if (paused !== this.paused) {
      this.paused = paused;
      this.pressure(paused);
    }
  }
}
