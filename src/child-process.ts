/**
 * Pieces every child the daemon runs needs (power commands, ipmitool, exec consoles): its whole
 * process group killed, and its output kept only up to a bound (a chatty program cannot grow memory).
 */

/** Signals the child's process group (children run detached, pid = pgid); a gone group is fine. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals = "SIGKILL"): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already
  }
}

/** The first `limit` bytes of a stream, and how many more came. */
export class BoundedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    const room = this.limit - this.size;
    const kept = chunk.subarray(0, Math.max(0, room));
    if (kept.length > 0) this.chunks.push(kept);
    this.size += kept.length;
    this.dropped += chunk.length - kept.length;
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString("utf8");
    return this.dropped > 0 ? `${text}\n[${this.dropped} more bytes not kept]` : text;
  }
}
