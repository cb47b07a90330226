/**
 * Where the daemon's JSON log lines go: gathered while the event loop runs one turn's I/O callbacks and
 * written to the file descriptor (stdout) with one synchronous write just after them (setImmediate),
 * before the loop waits for more I/O.
 *
 * Why: every write to a pipe wakes its reader, and on a small VM that wake-up costs 0.1-0.2 ms of the
 * daemon's CPU. A SysRq request logs two lines (the port's "sysrq" line and the access log), and 256
 * requests answered in one turn logged 512 lines with 512 writes; now they are one write. A line
 * waits for microseconds, never for a timer, and nothing waits for a thread-pool hop.
 *
 * What can be lost: only the lines of the turn running when the process is killed with SIGKILL. A
 * normal exit, a signal handled by close-with-grace and an uncaught exception all pass through the
 * process's "exit" event, which flushes. A full pipe (a log reader that stops reading) blocks the
 * daemon until it drains, as sonic-boom's sync mode does; a closed one (EPIPE) drops the lines.
 */
import { writeSync } from "node:fs";

const EAGAIN_WAIT_MS = 1;

export class TurnBatchedDestination {
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
    setImmediate(this.flushSync);
  }

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
          process.stderr.write(`sysrq-bridge: log output failed (${code}); log lines are dropped\n`);
      }
    }
  }
}
