/**
 * The crash classifier over byte-exact console transcripts of the real guest (test/fixtures/crash/,
 * recorded by test/kit/capture-crash-fixtures.ts), cut into reads at arbitrary points and split into
 * lines by the capture's own LineSplitter. Kinds the TCG guest cannot produce are fed from the
 * kernel's format strings (each cited) and marked as such.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { compileUserRegex } from "../../../src/capture/user-regex.js";
import { LineSplitter, lineText } from "../../../src/capture/line-splitter.js";
import { mayMatter, messageStart, scannedMessageStart } from "../../../src/recovery/detect/prefilter.js";
import { ANNOUNCED_REBOOT, CUT_HERE, bannerOf, headerKind } from "../../../src/recovery/detect/headers.js";
import { readKernelLine } from "../../../src/recovery/detect/kernel-line.js";
import {
  Classifier,
  type Change,
  type ClassifierOptions,
  type DetectedIncident,
} from "../../../src/recovery/detect/classifier.js";

/** A seeded generator whose low bits are random too (Feed's LCG cycles in them): mulberry32. */
function random(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const fixture = (name: string): Buffer =>
  readFileSync(new URL(`../../fixtures/crash/${name}.bin`, import.meta.url));

/** A console: feeds bytes in reads of random sizes (seeded), 1 ms apart, through the line splitter. */
class Feed {
  readonly changes: Change[] = [];
  readonly stream: Buffer[] = [];
  private offset = 0;
  private seq = 0;
  now = 1000;
  private readonly splitter = new LineSplitter(0);
  readonly classifier: Classifier;
  private rand: number;
  /** The largest read: reads hold many lines (the daemon's are up to 64 KiB) where a test wants that. */
  maxRead = 300;

  /** Every line's text, for the context (the daemon reads it from the line log). */
  private readonly texts: string[] = [];

  /**
   * `prefilter`: lines go in as bytes (Classifier.lineBytes), as the daemon's watcher feeds them: the
   * prefilter decides which are decoded; the rest only count as output or are kept as report bytes.
   * Otherwise every line is decoded and goes through Classifier.line.
   */
  constructor(
    options: Partial<ClassifierOptions> = {},
    seed = 1,
    readonly prefilter = true,
  ) {
    let n = 0;
    this.rand = seed;
    this.classifier = new Classifier(
      {
        quietMs: 30_000,
        silenceMs: 0,
        patterns: [],
        newId: () => `i${++n}`,
        contextOf: (seq, lines) => this.texts.slice(Math.max(0, seq - lines), seq),
        wallClock: () => new Date(this.now).toISOString(),
        ...options,
      },
      this.now,
    );
    this.classifier.connected(this.now);
  }

  private next(): number {
    this.rand = (this.rand * 1103515245 + 12345) % 2147483648;
    return this.rand;
  }

  bytes(data: Buffer | string): this {
    const buf = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    this.stream.push(buf);
    const sink = {
      line: (source: Buffer, start: number, end: number, offset: number) => {
        const text = lineText(source.subarray(start, end));
        this.texts.push(text);
        const c = this.classifier;
        const seq = this.seq++;
        if (this.prefilter) this.changes.push(...c.lineBytes(seq, source, start, end, offset, this.now));
        else this.changes.push(...c.line({ seq, offset, end: offset + end - start, at: this.now, text }));
      },
    };
    for (let at = 0; at < buf.length;) {
      const size = 1 + (this.next() % this.maxRead);
      this.splitter.push(buf.subarray(at, at + size), sink);
      at += size;
      this.now += 1;
    }
    this.offset += buf.length;
    this.now += 150;
    this.splitter.flushPartial(sink);
    return this;
  }

  wait(ms: number): this {
    this.now += ms;
    this.changes.push(...this.classifier.tick(this.now));
    return this;
  }

  get all(): Buffer {
    return Buffer.concat(this.stream);
  }

  opened(): DetectedIncident[] {
    return this.changes.filter((c) => c.type === "opened").map((c) => c.incident);
  }
}

describe("crash classifier on the real guest's transcripts", () => {
  it("an ordinary boot, userspace look-alikes and BREAK + l open nothing", () => {
    const feed = new Feed();
    feed.bytes(fixture("boot")).wait(500).bytes(fixture("userspace")).wait(500);
    feed.classifier.action({ kind: "key", key: "l" }, feed.now);
    feed.bytes(fixture("break-l")).wait(40_000);
    assert.deepEqual(feed.opened(), []);
  });

  it("the NMI we sent is our own output; an NMI nobody sent opens `nmi`", () => {
    const ours = new Feed().bytes(fixture("boot")).wait(500);
    ours.classifier.action({ kind: "nmi" }, ours.now);
    ours.bytes(fixture("nmi"));
    assert.deepEqual(ours.opened(), []);
    const theirs = new Feed().bytes(fixture("boot")).wait(500).bytes(fixture("nmi"));
    assert.deepEqual(
      theirs.opened().map((i) => i.kinds),
      [["nmi"]],
    );
  });

  for (const seed of [1, 7, 42, 1234]) {
    it(`a panic is one incident with the whole report and its byte offsets (reads seed ${seed})`, () => {
      const feed = new Feed({}, seed).bytes(fixture("boot")).wait(1000);
      const before = feed.all.length;
      feed.bytes(fixture("panic")).wait(5000);
      const opened = feed.opened();
      assert.equal(opened.length, 1);
      const incident = opened[0] as DetectedIncident;
      assert.deepEqual(incident.kinds, ["panic"]);
      assert.match(incident.trigger.line, /\] Kernel panic - not syncing: sysrq triggered crash$/);
      assert.ok(incident.report.some((l) => l.endsWith("] Call Trace:")));
      assert.ok(incident.report.some((l) => l.includes("entry_SYSCALL_64_after_hwframe")));
      assert.match(
        incident.report.at(-1) ?? "",
        /---\[ end Kernel panic - not syncing: sysrq triggered crash \]---$/,
      );
      assert.ok(
        incident.context.some((l) => l.includes("sysrq: Trigger a crash")),
        "context holds what came before",
      );
      const all = feed.all;
      const span = incident.spans[0];
      assert.ok(span && span.start > before);
      assert.equal(incident.trigger.offset, span.start);
      assert.match(all.toString("latin1", span.start, span.start + 40), /^\[ +[\d.]+\] Kernel panic/);
      assert.match(all.toString("latin1", 0, span.end), /---\[ end Kernel panic[^\n]*\n$/);
      assert.equal(incident.state, "open");
      feed.wait(30_000);
      assert.equal(incident.state, "closed");
      assert.equal(incident.outcome, "observed");
    });
  }

  it("the OOM killer's report is one `oom` incident from `invoked oom-killer` to the kill", () => {
    const feed = new Feed().bytes(fixture("boot")).wait(1000).bytes(fixture("oom")).wait(10_000);
    const opened = feed.opened();
    assert.equal(opened.length, 1);
    const incident = opened[0] as DetectedIncident;
    assert.deepEqual(incident.kinds, ["oom"]);
    assert.match(incident.trigger.line, /sort invoked oom-killer: /);
    assert.ok(incident.report.some((l) => /Out of memory: Killed process \d+ \(sort\)/.test(l)));
  });

  it("a second boot banner after output, unannounced, opens `reboot`; announced or ours, none", () => {
    const boot = fixture("boot");
    const bare = new Feed().bytes(boot).wait(1000).bytes(boot).wait(40_000);
    assert.deepEqual(
      bare.opened().map((i) => i.kinds),
      [["reboot"]],
    );
    const announced = new Feed().bytes(boot).bytes("[   30.1] reboot: Restarting system\r\n").bytes(boot);
    assert.deepEqual(announced.opened(), []);
    const ours = new Feed().bytes(boot).wait(1000);
    ours.classifier.action({ kind: "key", key: "b" }, ours.now);
    ours.bytes(boot);
    assert.deepEqual(ours.opened(), []);
    const reconnected = new Feed().bytes(boot).wait(1000);
    reconnected.classifier.connected(reconnected.now);
    reconnected.bytes(boot);
    assert.deepEqual(reconnected.opened(), []);
  });
});

describe("crash classifier on lines written from the kernel's format strings (not captured)", () => {
  // Linux 6.1 sources, as cited per line; the guest cannot produce these (no modules, TCG, no KASAN).
  const cases: [string, string][] = [
    ["oops", "[   41.1] BUG: kernel NULL pointer dereference, address: 0000000000000000"], // arch/x86/mm/fault.c
    ["oops", "[   41.1] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP"], // traps.c
    ["oops", "[   41.1] kernel BUG at mm/slub.c:123!"], // lib/bug.c
    ["oops", "[   41.1] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI"], // arch/x86/kernel/traps.c
    ["oops", "[   41.1] Oops: 0002 [#1] SMP NOPTI"], // arch/x86/kernel/dumpstack.c
    ["bug", "[   41.1] BUG: KASAN: slab-out-of-bounds in foo+0x1/0x2"], // mm/kasan/report.c
    ["bug", "[   41.1] BUG: KFENCE: use-after-free read in bar+0x1/0x2"], // mm/kfence/report.c
    ["bug", "[   41.1] BUG: KCSAN: data-race in a / b"], // kernel/kcsan/report.c
    ["bug", "[   41.1] UBSAN: shift-out-of-bounds in lib/x.c:10:5"], // lib/ubsan.c
    ["bug", "[   41.1] BUG: sleeping function called from invalid context at mm/slab.h:1"], // kernel/sched/core.c
    ["warning", "[   41.1] WARNING: CPU: 1 PID: 123 at kernel/foo.c:10 foo+0x1/0x2"], // kernel/panic.c __warn()
    ["soft-lockup", "[   41.1] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [spin:88]"], // kernel/watchdog.c
    ["hard-lockup", "[   41.1] NMI watchdog: Watchdog detected hard LOCKUP on cpu 1"], // kernel/watchdog_hld.c
    ["rcu-stall", "[   41.1] rcu: INFO: rcu_preempt self-detected stall on CPU"], // kernel/rcu/tree_stall.h
    ["rcu-stall", "[   41.1] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:"], // tree_stall.h
    ["rcu-stall", "[   41.1] rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: {"], // tree_exp.h
    ["hung-task", "[   41.1] INFO: task sh:96 blocked for more than 3 seconds."], // kernel/hung_task.c
    ["wq-lockup", "[   41.1] BUG: workqueue lockup - pool cpus=0 node=0 flags=0x0 nice=0 stuck for 31s!"], // workqueue.c
    ["oom", "[   41.1] Memory cgroup out of memory: Killed process 12 (x) total-vm:1kB"], // mm/oom_kill.c
    ["panic", "/ # \x1b[6n[   41.1] Kernel panic - not syncing: Fatal exception"], // glued to a prompt
  ];
  it("the byte prefilter lets through every line of every transcript and case that could matter", () => {
    const lines = ["boot", "userspace", "break-l", "nmi", "oom", "panic"]
      .flatMap((name) => fixture(name).toString("latin1").split("\n"))
      .concat(cases.map(([, line]) => line))
      .concat(["SeaBIOS (version 1.16.2)", "U-Boot 2024.01 (Jan 01 2024)", "[ 1.0] reboot: Power down"]);
    let through = 0;
    for (const line of lines) {
      const { message, text } = readKernelLine(line);
      const matters =
        headerKind(message) !== null ||
        bannerOf(message, text) !== null ||
        CUT_HERE.test(message) ||
        ANNOUNCED_REBOOT.test(message);
      const buf = Buffer.from(`${line}\n`, "latin1");
      const passes = mayMatter(buf, 0, buf.length, true);
      if (matters) assert.ok(passes, JSON.stringify(line));
      if (passes) through += 1;
    }
    assert.ok(
      through < lines.length / 5,
      `the prefilter lets few lines through (${through} of ${lines.length})`,
    );
  });

  it("the prefilter's shortcuts (probing for timestamps, skipping through oom lines) miss no header", () => {
    // Headers behind prompts and timestamps of every width, OOM lines with every comm length, with and
    // without printk.time, at every offset into a buffer of other bytes.
    // A timestamp, and where its last one starts (the prefilter looks for it in a line's first 24 bytes).
    const stamps: [string, number][] = [
      ["", 0],
      ["[0.0] ", 0],
      ["[0.0]", 0],
      ["[    1.000000] ", 0],
      ["[  123.456789] [  T12] ", 0],
      ["[ 1.5]", 0],
      ["[1.0] [    2.000000] ", 6],
    ];
    const prompts = ["", "/ # ", "/ # \x1b[6n", "login: ", "12345"].concat(
      Array.from({ length: 23 }, (_, n) => "#abcdefghijklmnopqrstuv".slice(0, n + 1)),
    );
    const messages = [
      "Kernel panic - not syncing: x",
      "Oops: 0000 [#1] SMP",
      "BUG: soft lockup - CPU#0 stuck for 22s! [spin:88]",
      "Linux version 6.1.0 (x)",
      "---[ end trace 0000000000000000 ]---",
      ...Array.from(
        { length: 15 },
        (_, n) => `${"abcdefghijklmnopq".slice(0, n + 1)} invoked oom-killer: gfp_mask=0x0`,
      ),
      ...Array.from({ length: 4 }, (_, n) => `${"12.3 ".repeat(n + 1)}invoked oom-killer: order=0`),
    ];
    let checked = 0;
    for (const prompt of prompts)
      for (const [stamp, last] of stamps)
        for (const message of messages)
          for (const pad of [0, 1, 3, 7]) {
            const line = `${prompt}${stamp}${message}`;
            const read = readKernelLine(line);
            const stamped = read.timestamped;
            if (headerKind(read.message) === null && bannerOf(read.message, read.text) === null) continue;
            // Beyond the prefilter's window, by design: a long prompt, or a comm not at the line's start.
            if (prompt.length + last >= 24 || (stamp === "" && prompt !== "")) continue;
            const buf = Buffer.concat([Buffer.alloc(pad, 0x5b), Buffer.from(`${line}\r\n`, "latin1")]);
            assert.ok(mayMatter(buf, pad, buf.length, stamped), JSON.stringify([line, pad]));
            checked += 1;
          }
    assert.ok(checked > 500, `${checked} lines checked`);
  });

  it("a second timestamp at each place of the window after the kernel's own: found where the byte scan finds it", () => {
    let later = 0;
    for (let gap = 0; gap <= 12; gap += 1)
      for (const second of ["[1.0] ", "[    2.000000] ", "[ T1] ", "[1.0"])
        for (const message of ["Kernel panic - not syncing: x", "plain text"]) {
          const line = `[    1.000000] ${"x".repeat(gap)}${second}${message}\n`;
          const buf = Buffer.from(line, "latin1");
          const scanned = scannedMessageStart(buf, 0, buf.length);
          assert.equal(messageStart(buf, 0, buf.length), scanned, JSON.stringify(line));
          if (scanned !== 15) later += 1;
          const header = buf.toString("latin1", scanned).startsWith("Kernel panic");
          if (header) assert.ok(mayMatter(buf, 0, buf.length, true), JSON.stringify(line));
        }
    assert.ok(later > 10, `${later} lines with a later timestamp`);
  });

  it("the shortcut for the kernel's own timestamp finds the message where the byte scan does", () => {
    // Every transcript line, then lines around "[%5lu.%06lu] " with each byte of the first 40 changed
    // at random (seeded): widths, padding, glued prompts, a second timestamp, a caller id.
    const lines = ["boot", "userspace", "break-l", "nmi", "oom", "panic"].flatMap((name) =>
      fixture(name).toString("latin1").split("\n"),
    );
    const bases = [
      "[    0.000000] Linux version 6.1.0",
      "[12345.123456] Kernel panic - not syncing: x",
      "[    1.000000] [    2.000000] Oops: 0000",
      "[    1.000000] [  T12] BUG: soft lockup",
      "[    1.000000] sh invoked oom-killer: gfp_mask=0x0",
      "[    1.000000]Kernel panic",
      "[123456.123456] Kernel panic",
      // Look-alikes: a shorter timestamp first, then bytes at the canonical places; a second timestamp.
      "[1.0]5.123456] invoked oom-killer: gfp_mask=0x0, order=0",
      "[    1.0] ---] xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
      "[ab[1.000000] Kernel panic - not syncing: x",
      "[    1.000000] x  [2.0]Kernel panic - not syncing: x",
      "[    1.000000] virtio_blk virtio1: [vda] 2097152 512-byte logical blocks (1.07 GB/1.00 GiB)",
    ];
    const alphabet = "[] .0123456789TC-Kx\x1b";
    const next = random(42);
    for (let n = 0; n < 20_000; n += 1) {
      const chars = [...(bases[next(bases.length)] as string)];
      for (let k = next(4); k > 0; k -= 1) chars[next(40)] = alphabet[next(alphabet.length)] as string;
      lines.push(chars.join(""));
    }
    let canonical = 0;
    for (const line of lines) {
      const buf = Buffer.from(`${line}\n`, "latin1");
      const found = messageStart(buf, 0, buf.length);
      assert.equal(found, scannedMessageStart(buf, 0, buf.length), JSON.stringify(line));
      if (found === 15) canonical += 1;
    }
    assert.ok(canonical > 5000, `${canonical} lines took the shortcut`);
  });

  for (const [kind, line] of cases) {
    it(`${kind}: ${JSON.stringify(line.slice(11, 60))}`, () => {
      const feed = new Feed().bytes(fixture("boot")).wait(1000).bytes(`${line}\r\n`);
      assert.deepEqual(
        feed.opened().map((i) => i.kinds),
        [[kind]],
      );
    });
  }

  it("a WARNING's report starts at its `cut here` line and runs through `end trace`", () => {
    const feed = new Feed().bytes(fixture("boot")).wait(1000);
    feed.bytes(
      [
        "[   50.000001] ------------[ cut here ]------------", // lib/bug.c
        "[   50.000002] WARNING: CPU: 0 PID: 1 at kernel/foo.c:10 foo+0x1/0x2",
        "[   50.000003] Modules linked in:",
        "[   50.000004] Call Trace:",
        "[   50.000005]  foo+0x1/0x2",
        "[   50.000006] ---[ end trace 0000000000000000 ]---",
        "",
      ].join("\r\n"),
    );
    feed.wait(10_000);
    const [incident] = feed.opened();
    assert.ok(incident);
    assert.deepEqual(incident.kinds, ["warning"]);
    assert.match(incident.report[0] ?? "", /cut here/);
    assert.match(
      incident.report[1] ?? "",
      /\] WARNING: CPU: 0 PID: 1 /,
      "the header line follows its cut line",
    );
    assert.match(incident.report.at(-1) ?? "", /end trace/);
  });

  it("one hang, one incident: RCU stall, soft lockup and hung tasks from two CPUs join", () => {
    const feed = new Feed().bytes(fixture("boot")).wait(1000);
    feed.bytes(
      [
        "[   60.100000] rcu: INFO: rcu_preempt self-detected stall on CPU",
        "[   60.100001] rcu: \t0-....: (5250 ticks this GP) idle=1234/1/0x4000000000000000",
        "[   60.100002] NMI backtrace for cpu 1",
        "[   60.100003] CPU: 1 PID: 88 Comm: lockup-test Not tainted 6.1.0 #1",
        "[   60.100004] Call Trace:",
        "",
      ].join("\r\n"),
    );
    feed.wait(3000).bytes("[   63.2] watchdog: BUG: soft lockup - CPU#1 stuck for 23s! [lockup-test:88]\r\n");
    feed.bytes("[   63.3] CPU: 0 PID: 12 Comm: kworker/0:1\r\n[   63.4] Call Trace:\r\n");
    feed.wait(8000).bytes("[   71.0] INFO: task sh:96 blocked for more than 3 seconds.\r\n");
    feed.wait(5000);
    const opened = feed.opened();
    assert.equal(opened.length, 1);
    assert.deepEqual(opened[0]?.kinds, ["rcu-stall", "soft-lockup", "hung-task"]);
    assert.equal(opened[0]?.spans.length, 3);
  });
});

describe("crash classifier: what must not fire, and its bounds", () => {
  it("userspace BUG-looking lines without a timestamp on a timestamped console are not headers", () => {
    const feed = new Feed()
      .bytes(fixture("boot"))
      .bytes("BUG: this is userspace\r\nKernel panic - not syncing: echo\r\n");
    assert.deepEqual(feed.opened(), []);
  });

  it("on a console without printk timestamps a header at the line start counts", () => {
    const feed = new Feed().bytes("Kernel panic - not syncing: VFS: Unable to mount root fs\r\n");
    assert.deepEqual(
      feed.opened().map((i) => i.kinds),
      [["panic"]],
    );
  });

  it("`watch.kinds` limits what opens; user patterns run through the RE2 engine", async () => {
    const regex = await compileUserRegex("E2E-FAIL \\d+", "watch.patterns[0].match");
    const feed = new Feed({
      kinds: new Set(["pattern"]),
      patterns: [{ name: "harness", regex, severity: "error" }],
    });
    feed.bytes(fixture("boot")).bytes(fixture("panic")).wait(40_000).bytes("test says E2E-FAIL 3\r\n");
    const opened = feed.opened();
    assert.deepEqual(
      opened.map((i) => [i.kinds, i.patterns]),
      [[["pattern"], [{ name: "harness", severity: "error" }]]],
    );
  });

  it("a flood after a header stays within maxReportChars, marked truncated", () => {
    const feed = new Feed({ maxReportChars: 4096 }).bytes(fixture("boot")).wait(1000);
    feed.bytes(
      `[   70.0] Kernel panic - not syncing: x\r\n${"[   70.1] spam spam spam spam\r\n".repeat(5000)}`,
    );
    const [incident] = feed.opened();
    assert.ok(incident?.truncated);
    const chars = incident.report.join("").length + incident.context.join("").length;
    assert.ok(chars <= 4096, `${chars} chars`);
  });

  for (const seed of [1, 7, 42]) {
    it(`report lines kept as bytes read back as the decoded lines would (reads seed ${seed})`, () => {
      // Every line decoded (Classifier.line) against the daemon's byte path, over every transcript
      // and a flood past a small bound, with reports read in the middle of collecting and at the end.
      const replay = (prefilter: boolean): unknown[] => {
        const feed = new Feed({ maxReportChars: 6000 }, seed, prefilter).bytes(fixture("boot")).wait(1000);
        feed.bytes(fixture("panic"));
        const middle = feed.opened().map((i) => [...i.report]);
        feed.wait(40_000).bytes("[   60.0] WARNING: CPU: 0 PID: 1 at kernel/foo.c:10 foo+0x1/0x2\r\n");
        // An end line the prefilter does not pass: 2 s of quiet after it end the report, so the next line is not in it.
        feed
          .bytes("[   60.1] \x1b[1mCall Trace:\x1b[0m\r\n[   60.2]  end trace 0123abcd ]---\r\n")
          .wait(3000);
        feed.bytes("[   63.0] after the report\r\n").wait(40_000);
        feed.bytes(fixture("oom")).bytes(`[   70.0] spam\r\n`.repeat(500)).wait(40_000);
        feed.classifier.action({ kind: "key", key: "l" }, feed.now);
        feed.bytes(fixture("break-l")).bytes(fixture("boot")).bytes(fixture("boot")).wait(40_000);
        // Timestamps first seen inside a report (its header had none): later unstamped lines are userspace.
        const bare = new Feed({}, seed, prefilter).bytes(
          "Kernel panic - not syncing: x\r\n[    1.000000] CPU: 0\r\n",
        );
        bare.wait(40_000).bytes("BUG: not the kernel\r\n").wait(40_000);
        feed.changes.push(...bare.changes);
        return [
          middle,
          feed.changes.map((c): unknown[] => [c.type, JSON.parse(JSON.stringify(c.incident)) as unknown]),
        ];
      };
      const decoded = replay(false);
      assert.deepEqual(replay(true), decoded);
      assert.ok(JSON.stringify(decoded).includes('truncated":true'), "the flood reaches the bound");
    });
  }

  for (const seed of [3, 11, 29, 64, 77, 101, 256, 999]) {
    it(`random transcripts, reads, waits and our own actions: bytes and decoded agree (seed ${seed})`, () => {
      // The byte path's shortcuts (a read's later lines after a steady one, the prefilter, reports
      // kept as bytes) against every line decoded, over a random mix of what a console shows.
      const pieces: (string | Buffer)[] = [
        fixture("boot"),
        fixture("userspace"),
        fixture("break-l"),
        fixture("nmi"),
        fixture("oom"),
        fixture("panic"),
        "[   41.1] general protection fault, probably for non-canonical address 0xdead: 0000 [#1] SMP\r\n",
        "[   41.1] WARNING: CPU: 1 PID: 123 at kernel/foo.c:10 foo+0x1/0x2\r\n",
        "[   41.1] INFO: task sh:96 blocked for more than 3 seconds.\r\n",
        "[   41.1] Memory cgroup out of memory: Killed process 12 (x) total-vm:1kB\r\n",
        "/ # \x1b[6n[   41.1] Kernel panic - not syncing: Fatal exception\r\n",
        "[   50.000001] ------------[ cut here ]------------\r\n[   50.000002] Modules linked in:\r\n",
        "[   60.1] \x1b[1mCall Trace:\x1b[0m\r\n[   60.2]  end trace 0123abcd ]---\r\n",
        "[   61.000000] ---[ end Kernel panic - not syncing: x ]---\r\n",
        "SeaBIOS (version 1.16.2)\r\n",
        "[    0.000000] Linux version 6.1.0 (x)\r\n[    0.100000] Command line: x\r\n[    0.2] more\r\n",
        "[   80.000000] WARNING: CPU: 0 PID: 1 at kernel/foo.c:10 foo+0x1/0x2\r\n[   80.1] Modules linked in:\r\n[   80.2] Call Trace:\r\n",
        "[   50.000001] ------------[ cut here ]------------\r\n",
        "[    9.000000] reboot: Restarting system\r\n",
        "[   70.000000] spam spam spam spam spam spam spam spam\r\n".repeat(400),
        "BUG: userspace says so\r\n/ # ",
      ];
      const replay = (prefilter: boolean): unknown[] => {
        const feed = new Feed({ maxReportChars: 8000 }, seed, prefilter);
        const next = random(seed);
        feed.maxRead = [1, 300, 4000, 30_000][seed % 4] as number;
        const middles: unknown[] = [];
        for (let step = 0; step < 80; step += 1) {
          switch (next(6)) {
            case 0:
            case 1:
            case 2:
              feed.bytes(pieces[next(pieces.length)] as string | Buffer);
              break;
            case 3:
              feed.wait([5, 300, 2100, 6500, 31_000][next(5)] as number);
              break;
            case 4: {
              const actions = [
                { kind: "key", key: "l" },
                { kind: "key", key: "b" },
                { kind: "nmi" },
                { kind: "break" },
                { kind: "power" },
              ] as const;
              feed.classifier.action(actions[next(actions.length)] as (typeof actions)[number], feed.now);
              break;
            }
            default:
              if (next(2) === 0) {
                feed.changes.push(...feed.classifier.disconnected(feed.now));
                feed.classifier.connected(feed.now);
              } else middles.push(feed.classifier.current?.report.length ?? -1);
          }
        }
        feed.wait(40_000);
        return [
          middles,
          feed.changes.map((c): unknown[] => [c.type, JSON.parse(JSON.stringify(c.incident))]),
        ];
      };
      const decoded = JSON.stringify(replay(false));
      const bytes = JSON.stringify(replay(true));
      // Compared as text: a deep diff of two long change lists takes minutes to print.
      let at = 0;
      while (at < decoded.length && decoded[at] === bytes[at]) at += 1;
      assert.ok(bytes === decoded, `differ at ${at}: ${decoded.slice(at - 200, at + 200)}`);
      assert.ok(decoded.includes('"opened"'), "something opened");
    });
  }

  it("lines after a banner in the same read count as output for the next banner", () => {
    const boot = "[    0.000000] Linux version 6.1.0 (x)\r\n[    0.100000] a\r\n[    0.200000] b\r\n";
    const feed = new Feed();
    feed.maxRead = 100_000;
    feed.bytes(boot).wait(1000).bytes(boot).wait(40_000);
    assert.deepEqual(
      feed.opened().map((i) => i.kinds),
      [["reboot"]],
    );
  });

  it("a header whose `cut here` came quietMs before closes at the next line of the same read either way", () => {
    const replay = (prefilter: boolean): string => {
      const feed = new Feed({}, 5, prefilter).bytes(fixture("boot")).wait(1000);
      feed.maxRead = 100_000;
      feed.bytes("[   50.000001] ------------[ cut here ]------------\r\n").wait(31_000);
      feed.bytes(
        "[   81.000000] WARNING: CPU: 0 PID: 1 at kernel/foo.c:10 foo+0x1/0x2\r\n[   81.1] Modules linked in:\r\n[   81.2] Call Trace:\r\n",
      );
      return JSON.stringify(feed.changes.map((c) => [c.type, c.incident]));
    };
    const decoded = replay(false);
    assert.ok(decoded.includes('"closed"'), decoded);
    assert.equal(replay(true), decoded);
  });

  it("silenceMs opens `silence` once, only when set", () => {
    const off = new Feed().bytes(fixture("boot")).wait(600_000);
    assert.deepEqual(off.opened(), []);
    const on = new Feed({ silenceMs: 10_000 }).bytes(fixture("boot")).wait(5000).wait(6000).wait(6000);
    assert.deepEqual(
      on.opened().map((i) => i.kinds),
      [["silence"]],
    );
  });
});

describe("crash classifier: waiting (the watcher's tick runs only then)", () => {
  it("waits while an incident is open, not after it closed, nor with nothing open", () => {
    const feed = new Feed().bytes(fixture("boot")).wait(500);
    assert.equal(feed.classifier.waiting, false, "a quiet boot leaves nothing for a tick to do");
    feed.bytes(fixture("panic"));
    assert.equal(feed.classifier.waiting, true, "an open incident closes with time: ticks needed");
    feed.wait(40_000);
    assert.deepEqual(
      feed.changes.filter((c) => c.type === "closed").length,
      1,
      "the tick closed the incident",
    );
    assert.equal(feed.classifier.waiting, false, "closed: nothing left for a tick");
  });

  it("with silenceMs, waits until silence fired and again once output resumes", () => {
    const feed = new Feed({ silenceMs: 10_000 }).bytes(fixture("boot"));
    assert.equal(feed.classifier.waiting, true, "silence can still fire");
    feed.wait(11_000).wait(40_000);
    assert.deepEqual(
      feed.opened().map((i) => i.kinds),
      [["silence"]],
      "silence opened once",
    );
    assert.equal(feed.classifier.waiting, false, "silence fired and its incident closed");
    feed.bytes("hello\n");
    assert.equal(feed.classifier.waiting, true, "output re-arms silence");
  });
});

describe("crash classifier: a detector beside the console (QMP GUEST_PANICKED)", () => {
  const panicked = (feed: Feed): void => {
    feed.changes.push(...feed.classifier.external("panic", "GUEST_PANICKED (QMP)", feed.now));
  };

  it("the event first opens `panic`; the console's report that follows joins it: one incident", () => {
    const feed = new Feed();
    feed.bytes(fixture("userspace"));
    panicked(feed);
    feed.bytes(fixture("panic")).wait(5000);
    const opened = feed.opened();
    assert.equal(opened.length, 1);
    const incident = opened[0]!;
    assert.deepEqual(incident.kinds, ["panic"]);
    assert.equal(incident.trigger.line, "GUEST_PANICKED (QMP)");
    assert.ok(incident.report.some((l) => /Kernel panic - not syncing: sysrq triggered crash$/.test(l)));
  });

  it("the console first: the event joins its open incident; none when `panic` is not watched", () => {
    const feed = new Feed();
    feed.bytes(fixture("panic"));
    panicked(feed);
    feed.wait(5000);
    assert.equal(feed.opened().length, 1);
    assert.match(feed.opened()[0]!.trigger.line, /Kernel panic - not syncing/);

    const off = new Feed({ kinds: new Set(["oops"]) });
    panicked(off);
    assert.deepEqual(off.opened(), []);
  });
});
