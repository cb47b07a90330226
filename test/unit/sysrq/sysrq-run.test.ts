import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { systemClock } from "../../../src/clock.js";
import type { ConsoleEvent, ConsoleFeed, SysrqWire } from "../../../src/sysrq/port-contract.js";
import { runSequence } from "../../../src/sysrq/run.js";

/** A console whose "kernel" answers each key with the lines `answer` gives (after `delayMs` each). */
function scripted(answer: (key: string) => { text: string; delayMs: number }[]) {
  const listeners = new Set<(event: ConsoleEvent) => void>();
  let last = systemClock.now();
  const sent: string[] = [];
  const emit = (text: string): void => {
    last = systemClock.now();
    for (const listener of listeners) listener({ type: "line", text, at: last });
  };
  const feed: ConsoleFeed = {
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    lastActivityAt: () => last,
  };
  const wire: SysrqWire = {
    delivery: "break",
    armState: () => ({ armedAt: null }),
    sendBreak: async () => {},
    sendKey: async (key) => {
      sent.push(key);
      for (const { text, delayMs } of answer(key)) setTimeout(() => emit(text), delayMs);
    },
  };
  return { feed, wire, sent, emit };
}

const options = { timeoutMs: 1000, settleMs: 100, breakMs: 250 };
const DISABLED = "[ 99.000000] sysrq: This sysrq operation is disabled.";

describe("sequence runner: verdicts that console text cannot forge", () => {
  it("a disabled line userspace printed first loses to the key's own header within settleMs", async () => {
    const t = scripted(() => [
      { text: DISABLED, delayMs: 1 },
      { text: "[   50.1] sysrq: Nice All RT Tasks", delayMs: 30 },
    ]);
    const [n] = await runSequence("n", options, { ...t, clock: systemClock });
    assert.equal(n?.verdict, "acknowledged");
    assert.equal(n?.action, "Nice All RT Tasks");
    assert.match(n?.note ?? "", /came first; the key's own header followed and wins/);
  });

  it("a disabled line is final after settleMs without the header, and the note says userspace could print it", async () => {
    const t = scripted(() => [{ text: DISABLED, delayMs: 1 }]);
    const [n] = await runSequence("n", options, { ...t, clock: systemClock });
    assert.equal(n?.verdict, "disabled");
    assert.match(n?.note ?? "", /userspace could also have printed/);
    assert.ok(!(n?.output ?? []).includes(DISABLED), "the deciding line is `line`, not output");
  });

  it("another header is never an acknowledgement: it is noted and the wait goes on", async () => {
    const t = scripted(() => [{ text: "[ 49.7] sysrq: Show State", delayMs: 1 }]);
    const [n] = await runSequence("n", { ...options, timeoutMs: 300 }, { ...t, clock: systemClock });
    assert.equal(n?.verdict, "no-response");
    assert.match(n?.note ?? "", /ignored a "Show State" header/);
  });

  it("a no-response says when the key went out and that it may still act", async () => {
    const t = scripted(() => []);
    const [h] = await runSequence("h", { ...options, timeoutMs: 200 }, { ...t, clock: systemClock });
    assert.equal(h?.verdict, "no-response");
    assert.equal(h?.mayStillAct, true);
    assert.ok(h?.sentAt !== undefined && Math.abs(Date.parse(h.sentAt) - Date.now()) < 5000);
    assert.match(h?.reason ?? "", /may still run when it resumes/);
  });

  it("after an acknowledged life-ending key the rest is skipped and never sent", async () => {
    const t = scripted((key) =>
      key === "b"
        ? [
            { text: "[ 5.0] sysrq: Resetting", delayMs: 1 },
            { text: "SeaBIOS (version 1.16)", delayMs: 20 },
          ]
        : [{ text: "[ 0.9] sysrq: HELP : loglevel(0-9)", delayMs: 1 }],
    );
    const results = await runSequence("bh", { ...options, timeoutMs: 300 }, { ...t, clock: systemClock });
    assert.deepEqual(
      results.map((r) => r.verdict),
      ["acknowledged", "skipped"],
    );
    assert.equal(results[0]?.after?.event, "boot-banner");
    assert.match(results[1]?.reason ?? "", /key b \(Resetting\) ended the target's life/);
    assert.deepEqual(t.sent, ["b"]);
  });
});
