/**
 * Whether the target can take the NMI its config names, learnt from the target rather than assumed.
 * QEMU delivers inject-nmi through whatever in the machine implements its "nmi" interface (x86 PC
 * machines, s390x, pseries); an arm64 `virt` machine has none and refuses every inject-nmi. So a QMP
 * port asks QEMU (QOM: the machine's type, and the types that implement "nmi") before it claims the
 * capability, and a refusal at inject time settles it too.
 */
import type { Logger } from "pino";
import { QmpError, type QmpClient } from "../control/qmp.js";
import type { Clock } from "../clock.js";

export type NmiSupportState =
  | { readonly kind: "unknown"; readonly reason: string }
  | { readonly kind: "supported"; readonly reason: string }
  | { readonly kind: "unsupported"; readonly reason: string };

/** A failed probe (QEMU not up yet) is retried no more often than this. */
const REPROBE_MS = 5000;

/** QEMU's words for an NMI it cannot deliver (QERR_UNSUPPORTED; newer QEMUs name NMI itself). */
const REFUSAL = /not currently supported|does not support NMI|NMI is not supported/i;

/** True when `err` is QEMU refusing inject-nmi for this machine, not a failure to reach QEMU. */
export function isNmiRefusal(err: unknown): err is QmpError {
  return err instanceof QmpError && (err.qmpClass === "CommandNotFound" || REFUSAL.test(err.message));
}

export class QmpNmiSupport {
  private stateValue: NmiSupportState = { kind: "unknown", reason: "not yet asked of QEMU" };
  private probing: Promise<void> | null = null;
  private lastProbeAt = Number.NEGATIVE_INFINITY;
  /** QEMU answered (even if only "unknown"): no more probes. */
  private answered = false;

  constructor(
    private readonly qmp: QmpClient,
    private readonly deps: { readonly clock: Clock; readonly log: Logger },
  ) {}

  get state(): NmiSupportState {
    return this.stateValue;
  }

  /** Asks QEMU in the background while the answer is unknown (at most every REPROBE_MS). */
  refresh(): void {
    if (this.answered || this.probing) return;
    if (this.deps.clock.now() - this.lastProbeAt < REPROBE_MS) return;
    void this.probe();
  }

  /** Asks QEMU now if the answer is unknown; never throws (an unreachable QEMU leaves it unknown). */
  probe(): Promise<void> {
    if (this.answered) return Promise.resolve();
    this.lastProbeAt = this.deps.clock.now();
    this.probing ??= this.ask()
      .then((state) => {
        this.answered = true;
        if (this.stateValue.kind === "unsupported") return; // a refusal came first
        this.stateValue = state;
        if (state.kind === "unsupported") this.deps.log.info({ reason: state.reason }, "nmi unsupported");
      })
      .catch((err: unknown) => {
        this.stateValue = { kind: "unknown", reason: `QEMU not asked yet: ${(err as Error).message}` };
      })
      .finally(() => {
        this.probing = null;
      });
    return this.probing;
  }

  /** QEMU refused an inject-nmi: no later request is offered the NMI. */
  refused(message: string): NmiSupportState {
    this.answered = true;
    this.stateValue = { kind: "unsupported", reason: `QEMU refused inject-nmi: ${message}` };
    return this.stateValue;
  }

  private async ask(): Promise<NmiSupportState> {
    const machine = String(await this.qmp.execute("qom-get", { path: "/machine", property: "type" }));
    const types = (await this.qmp.execute("qom-list-types", { implements: "nmi", abstract: true })) as {
      name: string;
    }[];
    const providers = types.map((t) => t.name).filter((name) => name !== "nmi");
    const { arch } = (await this.qmp.execute("query-target")) as { arch: string };
    if (providers.includes(machine))
      return { kind: "supported", reason: `QEMU ${arch} machine ${machine} takes inject-nmi` };
    if (providers.length === 0)
      return {
        kind: "unsupported",
        reason: `QEMU ${arch} machine ${machine} has no NMI: nothing in this QEMU implements it, so inject-nmi is refused`,
      };
    // Some device (not the machine) implements NMI: whether this machine has one shows at inject time.
    return { kind: "unknown", reason: `QEMU ${arch} machine ${machine} does not itself implement NMI` };
  }
}
