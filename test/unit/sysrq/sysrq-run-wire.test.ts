/**
 * runSequence against a fake SysrqWire (the port contract of src/sysrq/console.ts) whose console
 * answers as the kernel does, on a virtual clock: what goes on the wire per key and in which order,
 * the verdict each key gets from what the console printed, the stop after a life-ending key, and the
 * deadline. The console texts of real kernels are tested in verdict.test.ts and test/e2e.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Clock } from "../../../src/clock.js";
import type { ConsoleEvent, ConsoleFeed, SysrqWire } from "../../../src/sysrq/port-contract.js";
import { keyInfo } from "../../../src/sysrq/keys.js";
import { CANCEL_PAUSE_MS, type SysrqDelivery } from "../../../src/sysrq/plan.js";
import { runSequence, type SequenceOptions } from "../../../src/sysrq/run.js";
import type { KeyResult } from "../../../src/sysrq/result.js";

/** Time that moves only when everything else waits: each run is exact and takes no real time. */
class VirtualClock implements Clock {
  private time = 0;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.schedule(resolve, ms));
  }

  schedule(fn: () => void, ms: number): () => void {
    const timer = { at: this.time + Math.max(0, ms), seq: (this.seq += 1), fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Settles `work`, firing the earliest timer whenever nothing else is left to run. */
  async run<T>(work: Promise<T>): Promise<T> {
    let done = false;
    void work.then(
      () => (done = true),
      () => (done = true),
    );
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      if (done) return work;
      const next = this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq).shift();
      if (next === undefined) throw new Error(`stuck at ${this.time} ms: nothing scheduled`);
      assert.ok(next.at < 60_000, "a sequence ends within a virtual minute");
      this.time = next.at;
      next.fn();
    }
  }
}

/** What the kernel prints for a key, each line `afterMs` after the one before; "disconnect" drops the link. */
type Answer = readonly ({ readonly afterMs: number; readonly text: string } | "disconnect")[];

const stamp = "[   10.000000] ";
const header = (key: string): string => `${stamp}sysrq: ${keyInfo(key).action}`;
const DISABLED = `${stamp}sysrq: This sysrq operation is disabled.`;

/**
 * A wire to a kernel: a BREAK arms SysRq (one while armed cancels it), the next byte is the key and
 * gets `answers[key]` on the console (the header after 5 ms by default; [] for silence), a byte
 * while not armed is typed input. `log` keeps every wire operation, with the virtual time it began.
 */
class FakeWire implements SysrqWire {
  readonly log: { readonly op: string; readonly at: number }[] = [];
  readonly feed: ConsoleFeed;
  answered = 0;
  private armedAt: number | null;
  private lastActivity = 0;
  private readonly listeners = new Set<(event: ConsoleEvent) => void>();

  constructor(
    private readonly clock: VirtualClock,
    private readonly answers: Record<string, Answer> = {},
    readonly delivery: SysrqDelivery = "break",
    armedAt: number | null = null,
  ) {
    this.armedAt = armedAt;
    this.feed = {
      subscribe: (listener) => {
        this.listeners.add(listener);
        return () => this.listeners.delete(listener);
      },
      lastActivityAt: () => this.lastActivity,
    };
  }

  armState() {
    return { armedAt: this.armedAt };
  }

  async sendBreak(holdMs: number): Promise<void> {
    this.log.push({ op: "BREAK", at: this.clock.now() });
    await this.clock.sleep(holdMs);
    this.armedAt = this.armedAt === null ? this.clock.now() : null;
  }

  sendKey(key: string): Promise<void> {
    this.log.push({ op: key, at: this.clock.now() });
    const armed = this.armedAt !== null || this.delivery === "keyboard";
    this.armedAt = null;
    if (armed) this.answer(key);
    return Promise.resolve();
  }

  keyAnswered(): void {
    this.answered += 1;
  }

  private answer(key: string): void {
    let afterMs = 0;
    for (const step of this.answers[key] ?? [{ afterMs: 5, text: header(key) }]) {
      afterMs += step === "disconnect" ? 1 : step.afterMs;
      this.clock.schedule(() => {
        this.lastActivity = this.clock.now();
        const at = this.clock.now();
        const event: ConsoleEvent =
          step === "disconnect" ? { type: "disconnected", at } : { type: "line", text: step.text, at };
        for (const listener of this.listeners) listener(event);
      }, afterMs);
    }
  }
}

/** The same wire with the optional one-operation BREAK + key. */
class CombinedWire extends FakeWire {
  async sendBreakAndKey(holdMs: number, key: string): Promise<void> {
    await this.sendBreak(holdMs);
    await this.sendKey(key);
    this.log.splice(-2, 2, { op: `BREAK+${key}`, at: this.log.at(-2)?.at ?? -1 });
  }
}

const OPTIONS: SequenceOptions = { timeoutMs: 1000, settleMs: 50, breakMs: 250 };

function run(
  clock: VirtualClock,
  wire: FakeWire,
  keys: string,
  options: SequenceOptions = OPTIONS,
): Promise<KeyResult[]> {
  return clock.run(runSequence(keys, options, { wire, feed: wire.feed, clock }));
}

const ops = (wire: FakeWire): string[] => wire.log.map((entry) => entry.op);

describe("runSequence on a fake SysrqWire", () => {
  it("sends one BREAK and then its key for every key, in order, and judges each key by its own answer", async () => {
    const clock = new VirtualClock();
    const wire = new FakeWire(clock, {
      m: [{ afterMs: 5, text: DISABLED }],
      s: [
        { afterMs: 5, text: header("s") },
        { afterMs: 30, text: `${stamp}sysrq: Emergency Sync complete` },
      ],
    });
    const results = await run(clock, wire, "hms");
    assert.deepEqual(ops(wire), ["BREAK", "h", "BREAK", "m", "BREAK", "s"]);
    assert.deepEqual(
      results.map((r) => [r.key, r.verdict, r.action]),
      [
        ["h", "acknowledged", "HELP"],
        ["m", "disabled", keyInfo("m").action],
        ["s", "acknowledged", keyInfo("s").action],
      ],
    );
    assert.equal(results[0]?.line, "sysrq: HELP", "the deciding line, from the sysrq marker on");
    assert.equal(results[2]?.completion?.line, `${stamp}sysrq: Emergency Sync complete`);
    // Each key goes out once its BREAK has been held for breakMs; latency counts from the BREAK.
    for (const [i, key] of ["h", "m", "s"].entries()) {
      const breakAt = wire.log[2 * i]?.at ?? NaN;
      assert.equal(wire.log[2 * i + 1]?.at, breakAt + OPTIONS.breakMs, `${key} right after its BREAK`);
    }
    assert.equal(results[0]?.latencyMs, OPTIONS.breakMs + 5);
    assert.equal(wire.answered, 3, "the wire is told of every key the kernel answered");
  });

  it("a wire that can send BREAK + key in one operation gets one call per key", async () => {
    const clock = new VirtualClock();
    const wire = new CombinedWire(clock);
    const results = await run(clock, wire, "hs");
    assert.deepEqual(ops(wire), ["BREAK+h", "BREAK+s"]);
    assert.deepEqual(
      results.map((r) => r.verdict),
      ["acknowledged", "acknowledged"],
    );
  });

  it("a key on the keyboard goes without a BREAK", async () => {
    const clock = new VirtualClock();
    const wire = new FakeWire(clock, {}, "keyboard");
    const results = await run(clock, wire, "hm");
    assert.deepEqual(ops(wire), ["h", "m"]);
    assert.deepEqual(
      results.map((r) => r.verdict),
      ["acknowledged", "acknowledged"],
    );
  });

  it("a stale arm the port reports is cancelled by an extra BREAK, a pause, then the arming BREAK", async () => {
    const clock = new VirtualClock();
    const wire = new FakeWire(clock, {}, "break", -10_000);
    const [h] = await run(clock, wire, "h");
    assert.deepEqual(ops(wire), ["BREAK", "BREAK", "h"]);
    assert.equal(wire.log[1]?.at, OPTIONS.breakMs + CANCEL_PAUSE_MS);
    assert.equal(h?.verdict, "acknowledged", "the kernel armed by the second BREAK answers");
    assert.match(h?.note ?? "", /an extra BREAK cancelled it first/);
  });

  for (const [key, answer, event] of [
    ["b", [{ afterMs: 5, text: header("b") }, "disconnect"], "disconnected"],
    [
      "o",
      [
        { afterMs: 5, text: header("o") },
        { afterMs: 20, text: "[   10.1] reboot: Power down" },
      ],
      "power-down",
    ],
    [
      "c",
      [
        { afterMs: 5, text: header("c") },
        { afterMs: 20, text: "[   10.1] Kernel panic - not syncing: sysrq triggered crash" },
      ],
      "panic",
    ],
  ] as const) {
    it(`stops after an acknowledged ${key}: later keys are skipped and never reach the wire`, async () => {
      const clock = new VirtualClock();
      const wire = new FakeWire(clock, { [key]: answer });
      const results = await run(clock, wire, `${key}hs`);
      assert.deepEqual(ops(wire), ["BREAK", key]);
      assert.deepEqual(
        results.map((r) => r.verdict),
        ["acknowledged", "skipped", "skipped"],
      );
      assert.equal(results[0]?.after?.event, event);
      assert.match(results[1]?.reason ?? "", new RegExp(`key ${key}`));
    });
  }

  it("a life-ending key the kernel refused does not stop the sequence", async () => {
    const clock = new VirtualClock();
    const wire = new FakeWire(clock, { b: [{ afterMs: 5, text: DISABLED }] });
    const results = await run(clock, wire, "bh");
    assert.deepEqual(ops(wire), ["BREAK", "b", "BREAK", "h"]);
    assert.deepEqual(
      results.map((r) => r.verdict),
      ["disabled", "acknowledged"],
    );
  });

  it("an answer just inside timeoutMs counts; no answer by then is a no-response that stops the sequence", async () => {
    const inTime = new VirtualClock();
    const late = new FakeWire(inTime, { h: [{ afterMs: OPTIONS.timeoutMs - 1, text: header("h") }] });
    const [h] = await run(inTime, late, "h");
    assert.equal(h?.verdict, "acknowledged");
    assert.equal(h?.latencyMs, OPTIONS.breakMs + OPTIONS.timeoutMs - 1);

    const clock = new VirtualClock();
    const wire = new FakeWire(clock, { h: [{ afterMs: OPTIONS.timeoutMs + 1, text: header("h") }] });
    const results = await run(clock, wire, "hsu");
    assert.deepEqual(ops(wire), ["BREAK", "h"], "nothing is sent after a key that got no answer");
    assert.deepEqual(
      results.map((r) => r.verdict),
      ["no-response", "skipped", "skipped"],
    );
    assert.equal(results[0]?.mayStillAct, true);
    assert.match(results[1]?.reason ?? "", /an earlier key \(h\) got no response/);
    assert.equal(wire.answered, 0);
    // The wait ends at the deadline: the key went out after its BREAK, then timeoutMs passed.
    assert.equal(clock.now(), OPTIONS.breakMs + OPTIONS.timeoutMs);
  });
});
