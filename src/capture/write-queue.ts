/**
 * The capture writer's ops, run one at a time in arrival order: batches of bytes with their index
 * records, and tasks (rotation, retention, opening files for a read, close). An idle queue starts
 * once the loop's current I/O callbacks are done (setImmediate), so a burst goes out in one write.
 */
import type { IndexRecords } from "./index-format.js";

/**
 * Raw bytes and index lines queued between two tasks, written as one writev of the bytes and then one
 * write of the lines that point into them (so the index never runs ahead of the raw file on disk).
 * Appends join the newest batch rather than queueing an op each: at stream rates thousands of chunks
 * and lines arrive during one write. Only the newest batch is open; its index records are the ones in
 * `records` not yet taken.
 */
interface Batch {
  readonly kind: "batch";
  readonly chunks: Buffer[];
  /** The batch's index records, cut from `records` once the batch is closed (null while open). */
  index: Buffer | null;
}

type Op = Batch | { readonly kind: "task"; readonly run: () => Promise<void> };

export interface QueueWork {
  /** Writes one batch: its bytes, then its index records. */
  readonly writeBatch: (chunks: Buffer[], index: Buffer) => Promise<void>;
  readonly onTaskError: (err: unknown) => void;
}

export class WriteQueue {
  private readonly ops: Op[] = [];
  private draining = false;

  constructor(
    private readonly records: IndexRecords,
    private readonly work: QueueWork,
  ) {}

  /** Whether the newest op is a batch not yet started, which new bytes and records join. */
  get batchOpen(): boolean {
    return this.ops.at(-1)?.kind === "batch";
  }

  /** The open batch's chunks (a new batch if none is open); records marked now travel with it. */
  batch(): Buffer[] {
    const last = this.ops.at(-1);
    if (last?.kind === "batch") return last.chunks;
    const batch: Batch = { kind: "batch", chunks: [], index: null };
    this.enqueue(batch);
    return batch.chunks;
  }

  /** Queues `run` after everything queued before it; its failure goes to onTaskError. */
  add(run: () => Promise<void>): void {
    this.enqueue({ kind: "task", run });
  }

  /** Runs `run` as an op, after everything queued before it. */
  task<T>(run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: "task", run: () => run().then(resolve, reject) });
    });
  }

  private enqueue(op: Op): void {
    this.closeBatch();
    // Records held by writeMarkSoon go before a task (a rotation, a close), in a batch of their own.
    if (op.kind === "task" && !this.records.empty) {
      this.ops.push({ kind: "batch", chunks: [], index: this.records.take() });
    }
    this.ops.push(op);
    if (this.draining) return;
    this.draining = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      for (let op = this.ops.shift(); op; op = this.ops.shift()) {
        if (op.kind === "task") {
          await op.run().catch(this.work.onTaskError);
          continue;
        }
        // Only the newest batch is open (null index): its records are all those not yet taken.
        await this.work.writeBatch(op.chunks, op.index ?? this.records.take());
      }
    } finally {
      // Synchronous with the loop's last check: an op enqueued from now on starts a new drain.
      this.draining = false;
    }
  }

  /** The open batch is the newest op; once anything follows it (or its write starts) it is closed. */
  private closeBatch(): void {
    const last = this.ops.at(-1);
    if (last?.kind === "batch" && last.index === null) last.index = this.records.take();
  }
}
