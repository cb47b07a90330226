/** Silence timing: no byte for silenceMs opens a `silence` incident, once until output resumes. */
export class SilenceTimer {
  private lastActivityAt: number;
  private fired = false;
  private readonly ms: number;

  /** `ms` 0: off. */
  constructor(ms: number, now: number) {
    this.ms = ms;
    this.lastActivityAt = now;
  }

  /** Output (or a new connection) at `at`: the quiet starts again from there. */
  activity(at: number): void {
    this.lastActivityAt = at;
    this.fired = false;
  }

  /** The console has been silent for the whole timeout and no `silence` was opened for this quiet. */
  due(now: number): boolean {
    return this.ms > 0 && !this.fired && now - this.lastActivityAt >= this.ms;
  }

  /** Silence may yet fire: on, and not already noticed for this quiet. */
  get armed(): boolean {
    return this.ms > 0 && !this.fired;
  }

  /** A `silence` incident was opened: one per quiet. */
  noticed(): void {
    this.fired = true;
  }
}
