import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { LineSplitter, lineText } from "../../../src/capture/line-splitter.js";
import {
  afterEventOf,
  classifyLine,
  isCompletionLine,
  judgeLine,
  keysFromHelp,
  markerCount,
  readLine,
} from "../../../src/sysrq/verdict.js";

const HELP_6_1 =
  "[   12.345678] sysrq: HELP : loglevel(0-9) reboot(b) crash(c) terminate-all-tasks(e) memory-full-oom-kill(f) kill-all-tasks(i) thaw-filesystems(j) sak(k) show-backtrace-all-active-cpus(l) show-memory-usage(m) nice-all-RT-tasks(n) poweroff(o) show-registers(p) show-all-timers(q) unraw(r) sync(s) show-task-states(t) unmount(u) show-blocked-tasks(w) dump-ftrace-buffer(z) ";

describe("verdict parser", () => {
  it("acknowledges the header of the key's own action, wherever it sits in the line", () => {
    assert.deepEqual(judgeLine("m", "[    5.100000] sysrq: Show Memory\r"), {
      verdict: "acknowledged",
      action: "Show Memory",
      line: "sysrq: Show Memory",
    });
    const glued = "/ # \x1b[6n[    3.020000] sysrq: Show State";
    assert.equal(judgeLine("t", glued)?.verdict, "acknowledged");
  });

  it("reads older kernels' 'SysRq : ' marker", () => {
    assert.equal(judgeLine("s", "SysRq : Emergency Sync")?.verdict, "acknowledged");
  });

  it("reports disabled with the bit the key needs and how to enable it", () => {
    const j = judgeLine("t", "[    4.0] sysrq: This sysrq operation is disabled.");
    assert.equal(j?.verdict, "disabled");
    assert.ok(j?.verdict === "disabled" && j.needsBit === 8);
    assert.ok(
      j?.verdict === "disabled" &&
        /kernel\.sysrq lacks 8/.test(j.hint) &&
        /sysctl kernel\.sysrq=1/.test(j.hint),
    );
  });

  it("calls HELP an acknowledgement for h and 'unsupported' for any other key, with the keys offered", () => {
    assert.equal(judgeLine("h", HELP_6_1)?.verdict, "acknowledged");
    const x = judgeLine("x", HELP_6_1);
    assert.equal(x?.verdict, "unsupported");
    assert.ok(x?.verdict === "unsupported" && x.supported === "0123456789bcefhijklmnopqrstuwz");
  });

  it("ignores the dump body, follow-ups, and a late header that belongs to another key", () => {
    assert.equal(judgeLine("m", "[    5.1] Mem-Info:"), null);
    assert.equal(judgeLine("m", "[    5.1] sysrq: Loglevel set to 9"), null);
    assert.equal(judgeLine("m", "[    5.1] sysrq: Changing Loglevel"), null);
    assert.equal(classifyLine("sysrq: CPU0:").kind, "follow-up");
  });

  it("acknowledges only the key's own header: another or unknown header is foreign, never an answer", () => {
    assert.equal(judgeLine("v", "sysrq: Restore framebuffer console"), null);
    assert.deepEqual(readLine("v", "sysrq: Restore framebuffer console"), {
      kind: "foreign",
      action: "Restore framebuffer console",
    });
    assert.deepEqual(readLine("n", "[   49.761127] sysrq: Show State\r"), {
      kind: "foreign",
      action: "Show State",
    });
  });

  it("takes the last marker of a glued line (issue 13: the leftmost was taken)", () => {
    // Byte-exact from the issue: a header with no newline, then a disabled line.
    const glued = "sysrq: Show State[ 49.761127] sysrq: This sysrq operation is disabled.\r\n";
    assert.equal(markerCount(glued), 2);
    const n = readLine("n", glued);
    assert.equal(n.kind, "tentative");
    assert.equal(n.kind === "tentative" && n.judgement.verdict, "disabled");
    assert.equal(n.kind === "tentative" && n.judgement.line, "sysrq: This sysrq operation is disabled.");
    // The other way round: userspace's fake disabled line, then the kernel's own header.
    const real =
      "[ 99.000000] sysrq: This sysrq operation is disabled.[   50.100000] sysrq: Nice All RT Tasks\r\n";
    assert.deepEqual(readLine("n", real), {
      kind: "final",
      judgement: { verdict: "acknowledged", action: "Nice All RT Tasks", line: "sysrq: Nice All RT Tasks" },
    });
    assert.equal(markerCount("[ 1.0] sysrq: Show Memory"), 1);
    assert.equal(markerCount("nothing here"), 0);
  });

  it("calls disabled and HELP-for-another-key tentative, HELP for h and the own header final", () => {
    assert.equal(readLine("n", "[ 99.000000] sysrq: This sysrq operation is disabled.").kind, "tentative");
    assert.equal(readLine("x", HELP_6_1).kind, "tentative");
    assert.equal(readLine("h", HELP_6_1).kind, "final");
    assert.equal(readLine("m", "sysrq: Show Memory").kind, "final");
    assert.equal(readLine("m", "Mem-Info:").kind, "none");
  });

  it("recognises completion lines and what follows a life-ending key", () => {
    assert.ok(isCompletionLine("s", "[    6.0] Emergency Sync complete"));
    assert.ok(!isCompletionLine("s", "[    6.0] Emergency Remount complete"));
    assert.ok(isCompletionLine("u", "[    6.0] Emergency Remount complete"));
    assert.equal(afterEventOf("[ 9.1] Kernel panic - not syncing: sysrq triggered crash"), "panic");
    assert.equal(afterEventOf("[ 9.1] reboot: Power down"), "power-down");
    assert.equal(afterEventOf("[ 9.1] random"), null);
  });

  it("parses the keys a HELP list offers", () => {
    assert.equal(keysFromHelp("HELP : loglevel(0-9) reboot(b) replay-kernel-logs(R)"), "0123456789bhR");
  });
});

/** Console bytes captured from the real guest by test/kit/capture-fixtures.ts. */
async function fixtureLines(name: string): Promise<string[]> {
  const bytes = await readFile(new URL(`../../fixtures/console/${name}.bin`, import.meta.url));
  const splitter = new LineSplitter(0);
  const lines: string[] = [];
  const sink = {
    line: (source: Buffer, start: number, end: number) => lines.push(lineText(source.subarray(start, end))),
  };
  splitter.push(bytes, sink);
  splitter.flushPartial(sink);
  return lines;
}

function firstJudgement(key: string, lines: string[]) {
  for (const line of lines) {
    const judgement = judgeLine(key, line);
    if (judgement) return judgement;
  }
  return null;
}

describe("verdict parser on consoles captured from a real 6.1 kernel", () => {
  const cases: [fixture: string, key: string, verdict: string, action?: string][] = [
    ["always-h", "h", "acknowledged", "HELP"],
    ["always-m", "m", "acknowledged", "Show Memory"],
    ["always-9", "9", "acknowledged", "Changing Loglevel"],
    ["always-s", "s", "acknowledged", "Emergency Sync"],
    ["always-u", "u", "acknowledged", "Emergency Remount R/O"],
    ["always-t", "t", "acknowledged", "Show State"],
    ["always-x", "x", "unsupported"],
    ["438-t", "t", "disabled", "Show State"],
    ["438-s", "s", "acknowledged", "Emergency Sync"],
    ["438-h", "h", "acknowledged", "HELP"],
    ["glued-prompt", "h", "acknowledged", "HELP"],
  ];
  for (const [fixture, key, verdict, action] of cases) {
    it(`${fixture}: key ${key} is ${verdict}`, async () => {
      const judgement = firstJudgement(key, await fixtureLines(fixture));
      assert.equal(judgement?.verdict, verdict);
      if (action) assert.equal("action" in judgement ? judgement.action : undefined, action);
    });
  }

  it("finds the completion lines of s and u, and the keys offered by x's HELP", async () => {
    assert.ok((await fixtureLines("always-s")).some((l) => isCompletionLine("s", l)));
    assert.ok((await fixtureLines("always-u")).some((l) => isCompletionLine("u", l)));
    const x = firstJudgement("x", await fixtureLines("always-x"));
    assert.equal(x?.verdict === "unsupported" && x.supported, "0123456789bcefhijklmnopqrstuwz");
  });

  it("reads the header of a line glued to the shell prompt", async () => {
    const lines = await fixtureLines("glued-prompt");
    assert.ok(
      lines.some((l) => l.startsWith("/ # \x1b[6n[") && judgeLine("h", l)?.verdict === "acknowledged"),
    );
  });
});
