/**
 * A console behind a program: the child's stdin/stdout (or its pty) is the wire.
 *
 *   write(data) ──> child stdin          child stdout ──filter──> sink.data
 *   sendBreak() ──> the configured sequence (bytes, \d pauses) ──> child stdin
 *   child exit  ──> sink.closed({ disconnected, error: "telnet exited with code 1" })
 *
 * The port reconnects (restarts the child) with backoff like any transport. Other transports that wrap
 * a program (ipmi-sol) construct this class with their own argv, kind, filter and break method.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describeBreakSteps, type BreakStep } from "../config/break-sequence.js";
import type { ExecTransportConfig } from "../config/types.js";
import { describeExit, startConsoleChild, type ChildSpec, type ConsoleChild } from "./exec-child.js";
import type {
  BreakCapability,
  BreakMethod,
  Transport,
  TransportKind,
  TransportLog,
  TransportSink,
} from "./transport.js";

/** Takes the program's output, returns what of it is the target's (one per child run: it may keep state). */
export interface OutputFilter {
  push(chunk: Buffer): Buffer;
}

/** A BREAK as the program understands it: bytes and pauses of delayMs. */
export interface BreakSequence {
  readonly steps: readonly BreakStep[];
  readonly delayMs: number;
}

export interface ExecTransportOptions {
  readonly kind?: TransportKind;
  /** The far end as GET /ports shows it; default: argv joined (never env values). */
  readonly target?: string;
  readonly filter?: () => OutputFilter;
  readonly breakMethod?: BreakMethod;
  /** What a BREAK does on this wire, for GET /ports; default: the sequence as written. */
  readonly breakReason?: string;
  readonly log?: TransportLog;
}

/** argv joined for humans; never the environment, which may hold secrets. */
export function describeArgv(argv: readonly string[]): string {
  return argv
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`))
    .join(" ");
}

export class ExecTransport implements Transport {
  readonly kind: TransportKind;
  readonly target: string;
  private child: ConsoleChild | null = null;
  private closing = false;

  constructor(
    private readonly spec: ChildSpec,
    private readonly breakSequence: BreakSequence | undefined,
    private readonly options: ExecTransportOptions = {},
  ) {
    this.kind = options.kind ?? "exec";
    this.target = options.target ?? describeArgv(spec.argv);
  }

  static fromConfig(config: ExecTransportConfig, log?: TransportLog): ExecTransport {
    return new ExecTransport(
      { argv: config.argv, env: config.env, pty: config.pty, ...(config.cwd ? { cwd: config.cwd } : {}) },
      config.break,
      log ? { log } : {},
    );
  }

  async open(sink: TransportSink): Promise<void> {
    this.closing = false;
    const filter = this.options.filter?.();
    const program = this.spec.argv[0] ?? "";
    const child = await startConsoleChild(
      this.spec,
      {
        data: (chunk) => {
          const kept = filter ? filter.push(chunk) : chunk;
          if (kept.length > 0) sink.data(kept);
        },
        exit: (exit) => {
          if (this.child === child) this.child = null;
          const how = `${program} ${describeExit(exit)}`;
          if (this.closing) return sink.closed({ disconnected: false });
          this.options.log?.info(
            { program, code: exit.code, signal: exit.signal },
            `program ${describeExit(exit)}`,
          );
          sink.closed({ disconnected: true, error: new Error(how) });
        },
      },
      this.options.log,
    );
    this.child = child;
    this.options.log?.info({ program, pid: child.pid, pty: this.spec.pty === true }, "program started");
  }

  write(data: Uint8Array): Promise<void> {
    const child = this.child;
    if (!child) return Promise.reject(new Error(`${this.target} is not running`));
    return child.write(data);
  }

  /** The pty's window size; a no-op on pipes or while the program is not running. */
  resize(cols: number, rows: number): void {
    try {
      this.child?.resize?.(cols, rows);
    } catch (err) {
      // node-pty throws once the pty is gone: the program is exiting, and the exit reports that
      this.options.log?.warnOnce("pty-resize", { err }, "cannot resize the program's pty");
    }
  }

  /** The configured sequence; `holdMs` means nothing here (the program decides what a BREAK is). */
  async sendBreak(_holdMs: number): Promise<void> {
    const sequence = this.breakSequence;
    if (!sequence) throw new Error(`${this.target} has no break sequence`);
    for (const step of sequence.steps) {
      if (step.kind === "pause") await sleep(sequence.delayMs);
      else await this.write(step.bytes);
    }
  }

  breakCapability(): BreakCapability {
    const sequence = this.breakSequence;
    if (!sequence) {
      return {
        available: false,
        reason:
          "this port's program has no break sequence (transport.break); a pty or pipe cannot carry a serial break",
      };
    }
    return {
      available: true,
      method: this.options.breakMethod ?? "exec-sequence",
      held: false,
      reason:
        this.options.breakReason ??
        `writes '${describeBreakSteps(sequence.steps)}' to ${this.spec.argv[0] ?? "the program"} (\\d: ${sequence.delayMs} ms)`,
    };
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.closing = true;
    await child.stop();
  }
}
