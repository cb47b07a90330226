/**
 * Every regular expression a user hands the daemon (GET /ports/:id/log?match, and any later feature)
 * is compiled here, by re2js: RE2's automata match in time linear in the text, so no pattern can
 * backtrack for ever on the event loop ((.|.)*Z froze the daemon under V8's engine). RE2 syntax has
 * no backreferences or lookaround; such a pattern is a 400 VALIDATION naming the field.
 *
 * Linear is not free: the automaton's cost per character grows with the pattern's program, so a
 * program is capped (MAX_PROGRAM), and long scans (line-log.ts) yield every SLICE_MS and stop at a
 * budget, timed by ScanClock.
 */
import { setImmediate as yieldToLoop } from "node:timers/promises";
import { BridgeError } from "../errors.js";

/** A compiled user pattern: `test` finds it anywhere in a line, in linear time. */
export interface UserRegex {
  readonly source: string;
  test(text: string): boolean;
}

/**
 * The largest RE2 program (instructions) accepted. A line's cost grows faster than the program once
 * RE2's DFA cache overflows: .{0,1000}.{0,1000}Y! (4004) took 380 ms per 8 KiB line, the worst we
 * found under 600 took 8 ms. Ordinary patterns (login:, \d+\.\d+, (?i)panic|oops) are under 50.
 */
export const MAX_PROGRAM = 600;

type Re2Module = typeof import("re2js");
let engine: Promise<Re2Module> | undefined;

/** re2js is ~260 KB of code the daemon needs only when a pattern arrives: loaded on first use. */
function loadEngine(): Promise<Re2Module> {
  engine ??= import("re2js");
  return engine;
}

function invalid(field: string, why: string): BridgeError {
  return new BridgeError("VALIDATION", `${field} is not a pattern this daemon can run: ${why}`, {
    details: { field },
  });
}

/** Compiles `pattern` (RE2 syntax, case-sensitive unless it starts with (?i)) or throws VALIDATION. */
export async function compileUserRegex(pattern: string, field: string): Promise<UserRegex> {
  const { RE2JS, RE2JSException } = await loadEngine();
  let compiled: InstanceType<Re2Module["RE2JS"]>;
  try {
    compiled = RE2JS.compile(pattern);
  } catch (err) {
    if (!(err instanceof RE2JSException)) throw err;
    throw invalid(field, `${err.message} (RE2 syntax: no backreferences or lookaround)`);
  }
  const size = compiled.programSize();
  if (size > MAX_PROGRAM) {
    throw invalid(
      field,
      `it compiles to ${size} instructions, more than ${MAX_PROGRAM}; use smaller repeat counts`,
    );
  }
  return { source: pattern, test: (text) => compiled.test(text) };
}

/** How long one slice of a scan may hold the event loop before it yields. */
export const SLICE_MS = 5;

/**
 * Times a long scan (thousands of lines): says when a slice has run SLICE_MS and the loop should
 * yield, and when the scan's whole budget of matching time is spent. Time between `start` and
 * `stop` counts; waiting for new lines in between does not.
 */
export class ScanClock {
  private sliceStart = 0;
  private spent = 0;
  private running = false;

  constructor(private readonly budgetMs: number) {}

  start(): void {
    this.sliceStart = performance.now();
    this.running = true;
  }

  stop(): void {
    if (this.running) this.spent += performance.now() - this.sliceStart;
    this.running = false;
  }

  /** True once this slice has run SLICE_MS. */
  due(): boolean {
    return performance.now() - this.sliceStart >= SLICE_MS;
  }

  get exhausted(): boolean {
    const current = this.running ? performance.now() - this.sliceStart : 0;
    return this.spent + current >= this.budgetMs;
  }

  /** Lets timers, sockets and other requests run, then starts the next slice. */
  async pause(): Promise<void> {
    this.stop();
    await yieldToLoop();
    this.start();
  }
}
