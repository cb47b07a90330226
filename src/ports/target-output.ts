/**
 * What the target prints, fanned out: each chunk to the capture first (which gives it its offset),
 * then to the live output listeners (console clients); the capture's lines, and disconnects, to the
 * sequences waiting for the kernel's answer (ConsoleFeed).
 *
 *   chunk ──> Capture.append ──> onOutput listeners (chunk, offset)
 *                  └─ lines (followed only while a sequence subscribes) ──> feed() subscribers
 */
import type { Capture } from "../capture/capture.js";
import type { Clock } from "../clock.js";
import type { ConsoleEvent, ConsoleFeed } from "../sysrq/port-contract.js";

export class TargetOutput {
  private readonly consoleListeners = new Set<(event: ConsoleEvent) => void>();
  private readonly outputListeners = new Set<(chunk: Buffer, offset: number) => void>();
  private stopLines: (() => void) | null = null;

  constructor(
    private readonly capture: Capture,
    private readonly clock: Clock,
  ) {}

  /** A chunk read from the wire. */
  received(chunk: Buffer): void {
    const offset = this.capture.size;
    this.capture.append(chunk, this.clock.now());
    for (const listener of this.outputListeners) listener(chunk, offset);
  }

  /** The link went away (lost or stopped): a waiting sequence hears it and answers now. */
  disconnected(): void {
    this.publish({ type: "disconnected", at: this.clock.now() });
  }

  /** Every byte the target prints, live, with its capture offset. */
  onOutput(listener: (chunk: Buffer, offset: number) => void): () => void {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /** The console's lines as a sequence reads them (one object for the link's life). */
  readonly feed: ConsoleFeed = {
    subscribe: (listener) => {
      // The capture's lines are followed (and decoded to text) only while a sequence waits for them.
      this.stopLines ??= this.capture.onLine((line) =>
        this.publish({ type: "line", text: line.text, at: line.at }),
      );
      this.consoleListeners.add(listener);
      return () => {
        this.consoleListeners.delete(listener);
        if (this.consoleListeners.size > 0) return;
        this.stopLines?.();
        this.stopLines = null;
      };
    },
    lastActivityAt: () => this.capture.lastActivityAt(),
  };

  private publish(event: ConsoleEvent): void {
    for (const listener of this.consoleListeners) listener(event);
  }
}
