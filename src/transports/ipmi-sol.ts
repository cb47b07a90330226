/**
 * A console on a BMC's Serial-over-LAN, through `ipmitool sol activate` run as an exec child:
 *
 *   ipmitool -I lanplus [-C N] -H host -p port -U user -E sol activate      env IPMI_PASSWORD
 *
 * The password is only in the child's environment (`-E`), never in argv, target, logs or errors.
 * ipmitool's own lines stay out of the capture (IpmitoolLineFilter). A BREAK is ipmitool's escape
 * `~B`, honoured only right after CR/LF (or at session start) and acted on at once, the rest of the
 * same read sent after it: so a CR first unless the last byte sent was CR/LF, a pause, `~B`, and
 * the SysRq key comes in a later write. open() resolves only once ipmitool printed its session
 * banner: a child that exits before ("SOL payload already active on another session", a BMC that
 * does not answer) is an open failure with that reason, retried with the exec backoff, never a
 * port shown open. `takeover` deactivates the payload first.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { IpmiSolTransportConfig } from "../config/types.js";
import { connectionArgs, describeBmc, runIpmitool } from "../control/ipmitool.js";
import { ExecTransport } from "./exec.js";
import { IpmitoolLineFilter } from "./ipmi-sol-filter.js";
import {
  TransportOpenError,
  type BreakCapability,
  type Transport,
  type TransportLog,
  type TransportSink,
} from "./transport.js";

/** The `\d` of the break: CR, `~B` and the key each reach ipmitool in reads of their own. */
export const SOL_BREAK_PAUSE_MS = 250;

const ACTIVE_ELSEWHERE = "SOL payload already active on another session";

/** The child's argv (no secret in it). */
export function solArgv(config: IpmiSolTransportConfig): string[] {
  return [config.ipmitool, ...connectionArgs(config), "sol", "activate"];
}

export function solTarget(config: IpmiSolTransportConfig): string {
  return `ipmi-sol://${describeBmc(config)}`;
}

export class IpmiSolTransport implements Transport {
  readonly kind = "ipmi-sol" as const;
  readonly target: string;
  private readonly exec: ExecTransport;
  /** The last byte written to the child; null before any (a session start counts as a line start). */
  private lastByte: number | null = null;
  private activeElsewhere = false;
  private onBanner: (() => void) | undefined;

  constructor(
    private readonly config: IpmiSolTransportConfig,
    private readonly log?: TransportLog,
  ) {
    this.target = solTarget(config);
    this.exec = new ExecTransport(
      { argv: solArgv(config), env: { IPMI_PASSWORD: config.password } },
      undefined,
      {
        kind: "ipmi-sol",
        target: this.target,
        filter: () => new IpmitoolLineFilter(() => this.onBanner?.()),
        ...(log ? { log: watchedLog(log, () => (this.activeElsewhere = true)) } : {}),
      },
    );
  }

  async open(sink: TransportSink): Promise<void> {
    this.lastByte = null;
    this.activeElsewhere = false;
    if (this.config.takeover) {
      // Frees the single SOL payload from whoever holds it; failing here only means none was held.
      await runIpmitool({ ...this.config, kind: "ipmi" }, ["sol", "deactivate"]).catch((err: unknown) =>
        this.log?.info({ error: (err as Error).message }, "sol deactivate before activate failed"),
      );
    }
    let up = false;
    let settle: (failure?: Error) => void = () => undefined;
    const session = new Promise<void>((resolve, reject) => {
      settle = (failure) => (failure ? reject(failure) : resolve());
    });
    this.onBanner = () => {
      up = true;
      settle();
    };
    await this.exec.open({
      data: (chunk) => sink.data(chunk),
      closed: (info) => {
        const error =
          this.activeElsewhere && info.disconnected
            ? new Error(`${ACTIVE_ELSEWHERE} (BMC ${this.target})`)
            : info.error;
        if (up) return sink.closed({ ...info, ...(error ? { error } : {}) });
        settle(
          new TransportOpenError(
            this.activeElsewhere ? "SOL_ACTIVE" : "EIO",
            error?.message ?? `ipmitool ended before the SOL session was up (BMC ${this.target})`,
          ),
        );
      },
    });
    const timer = setTimeout(
      () =>
        settle(
          new TransportOpenError(
            "ETIMEDOUT",
            `no SOL session within ${this.config.timeoutMs} ms (BMC ${this.target})`,
          ),
        ),
      this.config.timeoutMs,
    );
    try {
      await session;
    } catch (err) {
      await this.exec.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async write(data: Uint8Array): Promise<void> {
    await this.exec.write(data);
    if (data.length > 0) this.lastByte = data[data.length - 1] ?? null;
  }

  async sendBreak(_holdMs: number): Promise<void> {
    if (this.lastByte !== null && this.lastByte !== 0x0d && this.lastByte !== 0x0a) {
      await this.write(Buffer.from("\r"));
      await sleep(SOL_BREAK_PAUSE_MS);
    }
    await this.write(Buffer.from("~B"));
    // The key must be a later read than `~B`: ipmitool sends the rest of a read after the break.
    await sleep(SOL_BREAK_PAUSE_MS);
  }

  breakCapability(): BreakCapability {
    return {
      available: true,
      method: "ipmi-sol",
      held: false,
      reason: `ipmitool's SOL break: '\\r\\d~B' (the CR only if the last byte sent was not CR/LF; \\d: ${SOL_BREAK_PAUSE_MS} ms)`,
    };
  }

  close(): Promise<void> {
    return this.exec.close();
  }
}

/** One per port log (stderr-log keys its line window on it), routed to the transport now running. */
const watched = new WeakMap<TransportLog, { log: TransportLog; onActive: () => void }>();

/** The port's log, noticing ipmitool's "already active" on stderr (which the exec child logs). */
function watchedLog(log: TransportLog, onActive: () => void): TransportLog {
  const known = watched.get(log);
  if (known) {
    known.onActive = onActive;
    return known.log;
  }
  const entry = {
    onActive,
    log: {
      info: (details: object, message: string) => log.info(details, message),
      warnOnce: (key: string, details: object, message: string) => log.warnOnce(key, details, message),
      warn: (details: object, message: string) => {
        const line = (details as { stderr?: unknown }).stderr;
        if (typeof line === "string" && line.includes(ACTIVE_ELSEWHERE)) entry.onActive();
        log.warn(details, message);
      },
    },
  };
  watched.set(log, entry);
  return entry.log;
}
