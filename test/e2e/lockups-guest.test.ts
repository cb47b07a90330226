/**
 * Hangs the real guest's kernel reports itself (issue 16, case 4), one guest for both cases, with
 * modules from its initramfs (test/kit/build-guest.sh): each opens exactly one incident of the right
 * kind, the kernel's repeated reports joining it.
 *   a. hung task: loop.ko, an ext2 on /dev/loop0 frozen with busybox fsfreeze, a background write
 *      into it blocks in D state: `INFO: task sh:PID blocked for more than 3 seconds.`, every 3 s.
 *   b. soft lockup: spin.ko (test/kit/spin-module/) spins a kthread with preemption off for 12 s:
 *      `watchdog: BUG: soft lockup - CPU#0 stuck for Ns! [lockup-test:PID]`, again every few seconds.
 * watch.quietMs (8 s) is well past the kernel's 3 s repeat, so an incident closes only once its
 * hang is over, and the first is closed before the second hang starts (else it would join it).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Incident } from "../../src/recovery/incidents.js";
import { waitUntil } from "../helpers/daemon.js";
import { startTarget, stopTarget, type Target } from "../helpers/qemu-target.js";
import { requireGuestModules, requireTools } from "../helpers/tools.js";
import { guestModules } from "../kit/index.js";

const QUIET_MS = 8000;
const skip =
  requireTools("qemu-system-x86_64", "cpio", "busybox") || (await requireGuestModules("loop", "spin"));

describe("hung task and soft lockup on a real guest", { skip, timeout: 180_000 }, () => {
  let target: Target | undefined;
  let modules: ReadonlyMap<string, string> = new Map();
  before(async () => {
    modules = (await guestModules()).paths;
    target = await startTarget([], [], { port: { watch: { quietMs: QUIET_MS } } });
  });
  after(() => stopTarget(target));

  const incidents = (since: number): Incident[] =>
    target!.daemon.app.incidents.list({ port: "vm0", since, ports: null }).incidents;
  const count = (incident: Incident | undefined, re: RegExp): number =>
    incident?.report.filter((line) => re.test(line)).length ?? 0;
  /** Waits for the first incident since `since` to close; on a timeout, says what was open. */
  async function closed(since: number): Promise<void> {
    await waitUntil(
      () => incidents(since)[0]?.state === "closed",
      QUIET_MS + 10_000,
      "the incident closed",
    ).catch((err: unknown) => {
      const open = incidents(since).map((i) => ({
        kinds: i.kinds,
        state: i.state,
        tail: i.report.slice(-5),
      }));
      throw new Error(`${String(err)}: ${JSON.stringify(open)}`);
    });
  }
  /** Types `command` at the guest's shell and waits for `done` (unique in the file) with its status. */
  async function shell(command: string, done: string, timeoutMs = 20_000): Promise<void> {
    const { api } = target!;
    assert.equal((await api.post("/ports/vm0/write", { data: `${command}; echo ${done}-$?\r` })).status, 200);
    const seen = await api.get<{ lines: { text: string }[] }>(
      `/ports/vm0/log?since=0&waitMs=${timeoutMs}&match=${encodeURIComponent(`^${done}-`)}`,
    );
    assert.deepEqual(
      seen.body.lines.map((line) => line.text.trim()),
      [`${done}-0`],
      `\`${command}\` succeeded`,
    );
  }

  it("case 4a: a task blocked on a frozen ext2 opens one hung-task incident", async () => {
    const since = target!.daemon.app.incidents.next;
    await shell(
      [
        `insmod ${modules.get("loop")!}`,
        "echo 3 > /proc/sys/kernel/hung_task_timeout_secs",
        "dd if=/dev/zero of=/tmp/img bs=1k count=2048 2>/dev/null",
        "losetup /dev/loop0 /tmp/img",
        "mke2fs -q /dev/loop0 >/dev/null",
        "mount -t ext2 /dev/loop0 /mnt",
        "fsfreeze --freeze /mnt",
      ].join(" && "),
      "FROZEN",
    );
    assert.equal((await target!.api.post("/ports/vm0/write", { data: "echo x > /mnt/f &\r" })).status, 200);
    const first = /INFO: task sh:\d+ blocked for more than 3 seconds\./;
    const blocked = /INFO: task sh:\d+ blocked for more than \d+ seconds\./;
    // The first report ~7 s after the write; each check (3 s) repeats it ("... more than 6 seconds.").
    await waitUntil(() => count(incidents(since)[0], blocked) >= 2, 40_000, "two hung-task reports");
    await shell(
      "fsfreeze --unfreeze /mnt && wait && echo 120 > /proc/sys/kernel/hung_task_timeout_secs",
      "THAWED",
    );
    await closed(since);
    const all = incidents(since);
    assert.equal(all.length, 1, `one failure, one incident: ${JSON.stringify(all.map((i) => i.kinds))}`);
    const [incident] = all;
    assert.deepEqual(incident!.kinds, ["hung-task"]);
    assert.match(incident!.report[0] ?? "", first, "the report starts at the kernel's header");
    assert.match(incident!.trigger.line, first);
    assert.ok(count(incident, blocked) >= 2, "the repeated reports joined the first one's incident");
    assert.ok(
      incident!.report.some((line) => line.includes('"echo 0 > /proc/sys/kernel/hung_task_timeout_secs"')),
      "the report holds the lines after its header",
    );
    assert.ok(
      incident!.report.some((line) => line.endsWith("Call Trace:")),
      "and the blocked task's trace",
    );
    assert.equal(incident!.outcome, "observed");
  });

  it("case 4b: a kthread spinning with preemption off opens one soft-lockup incident", async () => {
    const since = target!.daemon.app.incidents.next;
    await shell(
      `echo 1 > /proc/sys/kernel/watchdog_thresh && insmod ${modules.get("spin")!} secs=12`,
      "LOADED",
      40_000,
    );
    // The shell may print LOADED before the kthread first runs or after its spin: the module says when.
    const spun = await target!.api.get<{ lines: unknown[] }>(
      `/ports/vm0/log?since=0&waitMs=40000&match=${encodeURIComponent("lockup-test: spun 12 s")}`,
    );
    assert.equal(spun.body.lines.length, 1, "the spin ended");
    const lockup = /watchdog: BUG: soft lockup - CPU#0 stuck for \d+s! \[lockup-test:\d+\]/;
    await closed(since);
    const all = incidents(since);
    assert.equal(all.length, 1, `one failure, one incident: ${JSON.stringify(all.map((i) => i.kinds))}`);
    const [incident] = all;
    assert.deepEqual(incident!.kinds, ["soft-lockup"]);
    assert.match(incident!.report[0] ?? "", lockup, "the report starts at the kernel's header");
    assert.ok(count(incident, lockup) >= 2, "the repeated lockup lines joined the first one's incident");
    assert.ok(
      incident!.report.some((line) => /Modules linked in: .*\bspin\b/.test(line)),
      "names the module",
    );
    assert.equal(incident!.outcome, "observed");
  });
});
