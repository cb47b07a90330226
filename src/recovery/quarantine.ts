/**
 * A port's guard rails between ladders: the cooldown after one ends, and the hourly budget whose
 * overrun quarantines the port (health `bad`) until an admin lifts it. Kept per port id by
 * Recoveries, so a reload that restarts the port does not reset them.
 */
export type Health = "good" | "recovering" | "bad";

const HOUR_MS = 3_600_000;

export class PortGuard {
  /** When each ladder of the last hour started (ms, wall clock). */
  private readonly starts: number[] = [];
  private endedAt = -Infinity;
  private quarantinedAt: number | null = null;
  private runningValue = false;

  /** `changed`: called with the new health each time it changes (live events). */
  constructor(private readonly changed: (health: Health) => void = () => undefined) {}

  get running(): boolean {
    return this.runningValue;
  }

  set running(running: boolean) {
    this.update(() => (this.runningValue = running));
  }

  get quarantined(): boolean {
    return this.quarantinedAt !== null;
  }

  get health(): Health {
    if (this.quarantinedAt !== null) return "bad";
    return this.runningValue ? "recovering" : "good";
  }

  private update(change: () => void): void {
    const before = this.health;
    change();
    if (this.health !== before) this.changed(this.health);
  }

  /** Ends within `cooldownMs`: an automatic trigger now is ignored. */
  cooling(now: number, cooldownMs: number): boolean {
    return now - this.endedAt < cooldownMs;
  }

  /**
   * A ladder wants to start at `now`: true if it may; false, and the port quarantined, when
   * `maxPerHour` ladders already started within the hour.
   */
  admit(now: number, maxPerHour: number): boolean {
    while (this.starts.length > 0 && now - this.starts[0]! >= HOUR_MS) this.starts.shift();
    if (this.starts.length >= maxPerHour) {
      this.update(() => (this.quarantinedAt = now));
      return false;
    }
    this.starts.push(now);
    return true;
  }

  ended(now: number): void {
    this.running = false; // the setter: a change of health is announced
    this.endedAt = now;
  }

  /** An admin lifted the quarantine: the hour's count starts again. Returns whether it was on. */
  lift(): boolean {
    const was = this.quarantinedAt !== null;
    this.update(() => (this.quarantinedAt = null));
    this.starts.length = 0;
    return was;
  }
}
