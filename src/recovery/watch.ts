/**
 * Watches one port's console for crashes and hangs: the capture's lines, our own actions and gaps go
 * into the port's classifier (detect/classifier.ts); what it opens, grows and closes goes to the
 * incident store. A timer ticks the classifier so quiet closes incidents and silence is noticed.
 *
 *   Capture.observe ──line/action/gap──> Classifier ──changes──> IncidentStore (file per incident)
 *   setInterval(TICK_MS) ──tick──┘  (only while the classifier is waiting: an open incident, silence)
 *   QMP events (port with `qmp`) ──GUEST_PANICKED──> Classifier.external ; all RECORDED ──> events
 */
import type { Logger } from "pino";
import type { LineObserver } from "../capture/capture.js";
import { compileUserRegex } from "../capture/user-regex.js";
import type { WatchConfig } from "../config/types.js";
import type { QmpEvent } from "../control/qmp.js";
import type { Port } from "../ports/port.js";
import { Classifier, type Change, type WatchPattern } from "./detect/classifier.js";
import type { IncidentStore } from "./incidents.js";

const TICK_MS = 1000;
/** QMP events written on the port's open incident; GUEST_PANICKED (pvpanic) also opens one. */
const RECORDED = new Set(["GUEST_PANICKED", "STOP", "RESET", "SHUTDOWN", "DUMP_COMPLETED"]);

export class PortWatch {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private unobserve: (() => void) | null = null;
  private unlisten: (() => void) | null = null;
  /** The open incident's report length when its file was last written. */
  private persisted = -1;

  private constructor(
    private readonly port: Port,
    private readonly classifier: Classifier,
    private readonly store: IncidentStore,
    private readonly log: Logger,
  ) {}

  /** Starts watching `port`, or returns null when its config says `watch: false`. */
  static async start(port: Port, store: IncidentStore, log: Logger): Promise<PortWatch | null> {
    const config = port.config.watch;
    if (config === null) return null;
    const patterns = await compilePatterns(config, log);
    const classifier = new Classifier(
      {
        ...(config.kinds === null ? {} : { kinds: new Set(config.kinds) }),
        quietMs: config.quietMs,
        silenceMs: config.silenceMs,
        patterns,
        contextOf: (seq, lines) => {
          const out: string[] = [];
          for (let s = Math.max(0, seq - lines); s < seq; s += 1) out.push(port.capture.lines.text(s));
          return out.filter((text) => text !== ""); // "" also for lines the log no longer holds
        },
        newId: () => store.newId(),
        wallClock: () => new Date().toISOString(),
      },
      performance.now(),
    );
    const watch = new PortWatch(port, classifier, store, log);
    const silenceOn = config.silenceMs > 0;
    const observer: LineObserver = {
      lines: (seq, source, start, ends, count, offset, at) => {
        const changes = classifier.linesBytes(seq, source, start, ends, count, offset, at);
        if (changes.length > 0) watch.apply(changes);
        // Output re-arms a silence that fired: the tick must run again.
        else if (watch.timer === null && silenceOn) watch.schedule();
      },
      action: (action, at) => classifier.action(action, at),
      gap: (at) => {
        watch.apply(classifier.disconnected(at));
        classifier.connected(at);
        watch.schedule();
      },
    };
    const unobserve = port.capture.observe(observer);
    const unended = store.onEnded((portId, id) => {
      if (portId !== port.id) return;
      classifier.release(id);
      watch.schedule();
    });
    watch.unobserve = () => {
      unobserve();
      unended();
    };
    watch.schedule();
    watch.unlisten = port.qmp?.onEvent((event) => watch.qmpEvent(event)) ?? null;
    return watch;
  }

  /**
   * Ticks every TICK_MS while the classifier waits for time to pass (an open incident, an armed
   * silence), and not at all otherwise: an idle daemon's ports wake nothing (see docs/performance.md).
   */
  private schedule(): void {
    const wanted = !this.stopped && this.classifier.waiting;
    if (wanted && this.timer === null) {
      this.timer = setInterval(() => {
        this.apply(this.classifier.tick(performance.now()));
        this.persistGrowth();
        this.schedule();
      }, TICK_MS);
      this.timer.unref();
    } else if (!wanted && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.unobserve?.();
    this.unobserve = null;
    this.unlisten?.();
    this.unlisten = null;
  }

  /** pvpanic's GUEST_PANICKED is a detector that a flooded console cannot hide; the others are the record. */
  private qmpEvent(event: QmpEvent): void {
    if (!RECORDED.has(event.event)) return;
    if (event.event === "GUEST_PANICKED")
      this.apply(this.classifier.external("panic", "GUEST_PANICKED (QMP)", performance.now()));
    // The store's view: an incident a ladder ended is closed even while the classifier still holds it.
    const id = this.store.openOf(this.port.id)?.id;
    if (id !== undefined) this.store.addEvent(id, event);
  }

  /** An open incident's report written again once it grew: a daemon killed mid-report keeps what came. */
  private persistGrowth(): void {
    const open = this.classifier.current;
    if (open === null) return;
    const size = open.report.length + open.kinds.length;
    if (size === this.persisted) return;
    this.persisted = size;
    this.store.upsert(this.port.id, open);
  }

  private apply(changes: readonly Change[]): void {
    if (changes.length > 0) this.schedule();
    for (const change of changes) {
      const incident = this.store.upsert(this.port.id, change.incident);
      if (change.type !== "grew")
        this.log.warn(
          { incident: { id: incident.id, kinds: incident.kinds, state: incident.state } },
          change.type === "opened" ? "incident opened" : "incident closed",
        );
    }
  }
}

/**
 * Keeps `port`'s incidents told which of their raw bytes the capture rotated away: those already gone
 * (deleted while the daemon was down, or by a smaller maxTotalBytes) at once, later ones as rotation
 * deletes them. Every port, watched or not (a ladder's incident points into the capture too).
 */
export function followRotation(port: Port, store: IncidentStore): () => void {
  store.rotated(port.id, port.capture.firstRetained);
  return port.capture.onRotated((firstRetained) => store.rotated(port.id, firstRetained));
}

/** A pattern RE2 refuses is logged and left out: the port's other detectors keep working. */
async function compilePatterns(config: WatchConfig, log: Logger): Promise<WatchPattern[]> {
  const out: WatchPattern[] = [];
  for (const [index, p] of config.patterns.entries()) {
    try {
      out.push({
        name: p.name,
        severity: p.severity,
        regex: await compileUserRegex(p.match, `watch.patterns.${index}.match`),
      });
    } catch (err) {
      log.error({ err, pattern: p.name }, "watch: a pattern could not be compiled; it is left out");
    }
  }
  return out;
}
