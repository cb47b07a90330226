/**
 * The timers of periodic probes (`recover.probeEveryMs`): one per port that sets it, each asking
 * `tick` to probe its port and arming the next only once that tick has finished, so a port's probes
 * never overlap. `sync` follows the registry after a reload: a port removed, restarted (a new Port
 * object: its config changed) or no longer probing has its timer stopped, a new one started.
 */
import type { Logger } from "pino";
import type { Port } from "../ports/port.js";

interface Entry {
  readonly port: Port;
  readonly everyMs: number;
  timer: NodeJS.Timeout | null;
  stopped: boolean;
}

export class PeriodicProbes {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly tick: (port: Port) => Promise<void>,
    private readonly log: Logger,
  ) {}

  /** The ports probed now (tests). */
  get ports(): string[] {
    return [...this.entries.keys()];
  }

  sync(ports: readonly Port[]): void {
    if (this.closed) return;
    const wanted = new Map(
      ports.filter((port) => (port.config.recover?.probeEveryMs ?? 0) > 0).map((port) => [port.id, port]),
    );
    for (const [id, entry] of this.entries) {
      const port = wanted.get(id);
      if (port !== entry.port || port.config.recover?.probeEveryMs !== entry.everyMs) this.stop(id);
    }
    for (const [id, port] of wanted) if (!this.entries.has(id)) this.begin(port);
  }

  close(): void {
    this.closed = true;
    for (const id of [...this.entries.keys()]) this.stop(id);
  }

  private begin(port: Port): void {
    const entry: Entry = { port, everyMs: port.config.recover!.probeEveryMs, timer: null, stopped: false };
    const arm = (): void => {
      if (entry.stopped) return;
      entry.timer = setTimeout(fire, entry.everyMs);
      // The daemon's other handles keep it running; a probe timer alone must not.
      entry.timer.unref();
    };
    const fire = (): void => {
      entry.timer = null;
      void this.tick(port)
        .catch((err: unknown) => this.log.error({ err, port: port.id }, "recovery: a periodic probe failed"))
        .finally(arm);
    };
    this.entries.set(port.id, entry);
    arm();
  }

  private stop(id: string): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    entry.stopped = true;
    if (entry.timer) clearTimeout(entry.timer);
    this.entries.delete(id);
  }
}
