/**
 * Where the daemon's JSON log lines go: gathered and written to the file descriptor (stdout) with one
 * synchronous write, once the event loop has finished the turn after the one that logged them.
 *
 * Why: every write to a pipe wakes its reader, and on a small VM that costs the daemon 0.1-0.2 ms. A
 * SysRq request logs two lines (the port's "sysrq" line and the access log); 256 requests answered at
 * once logged 512 lines with 512 writes, now a handful. Waiting one more turn keeps the write off the
 * path of the answer: the port's line is logged before the response goes out, and the response waits
 * for the audit record's write, made just after the turn's I/O (setImmediate, audit-log.ts); a flush
 * queued behind it comes after the answer. A timer (1 ms, before) woke the idle daemon once more after
 * every answer, and kept V8 compiling Node's timer code in a warm daemon (see docs/performance.md).
 * No thread-pool hop is involved (pino's asynchronous destination hands each write to libuv's pool).
 *
 * What can be lost: only the lines of the last two turns when the process is killed with SIGKILL. A
 * normal exit, a signal handled by close-with-grace and an uncaught exception all pass through the
 * process's "exit" event, which flushes. A full pipe (a log reader that stops reading) blocks the
 * daemon until it drains, as sonic-boom's sync mode does; a closed one (EPIPE) drops the lines.
 */
import { writeSync } from "node:fs";

const EAGAIN_WAIT_MS = 1;

export class BatchedLogDestination {
  private pending: string[] = [];
  private scheduled = false;
  private broken = false;

  constructor(private readonly fd: number) {}

  /** pino's DestinationStream: one JSON line, newline included. */
  write(line: string): void {
    if (this.broken) return;
    this.pending.push(line);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushNextTurn);
  }

  /** Runs after this turn's I/O; queues the write behind what that turn queued (the audit's write). */
  private readonly flushNextTurn = (): void => {
    setImmediate(this.flushSync);
  };

  /** Writes what is pending now (pino's logger.flush() and the process's "exit" call this). */
  readonly flushSync = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const bytes = Buffer.from(this.pending.join(""), "utf8");
    this.pending = [];
    this.writeAll(bytes);
  };

  flush(callback?: (err?: Error) => void): void {
    this.flushSync();
    callback?.();
  }

  private writeAll(bytes: Buffer): void {
    let offset = 0;
    while (offset < bytes.length && !this.broken) {
      try {
        offset += writeSync(this.fd, bytes, offset);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EAGAIN") {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, EAGAIN_WAIT_MS);
          continue;
        }
        // EPIPE: nobody reads the log any more. Anything else: the descriptor is unusable. Either
        // way the daemon keeps serving its ports rather than die of its log.
        this.broken = true;
        if (code !== "EPIPE")
          tellStderr(`sysrq-bridge: log output failed (${code}); log lines are dropped\n`);
      }
    }
  }
}

/** One line to stderr, if it can take it: after a hang-up it is the same vanished terminal (EIO). */
function tellStderr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // nowhere left to say it
  }
}
