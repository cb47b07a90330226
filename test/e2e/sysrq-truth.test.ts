/**
 * What the daemon claims about a SysRq key must hold against a real kernel (issue 13): a verdict
 * that userspace text cannot forge, and no key sent into the boot that follows a reboot.
 * One guest (kernel.sysrq=1, allowed to reboot in place) for the whole file.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LogBody, SysrqBody } from "../helpers/http.js";
import { startTarget, stopTarget, type Target } from "../helpers/qemu-target.js";
import { requireTools } from "../helpers/tools.js";
import { READY_MARKER } from "../kit/index.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");
const FAKE = "[ 99.000000] sysrq: This sysrq operation is disabled.";

/** Types a command and waits for its output: the guest has read everything typed before it. */
async function caughtUp({ api, daemon }: Target, tag: string): Promise<void> {
  const since = daemon.ports.get("vm0").capture.lines.next;
  assert.equal((await api.post("/ports/vm0/write", { data: `echo ${tag}-$((6*7))\r` })).status, 200);
  const seen = await api.get<LogBody>(
    `/ports/vm0/log?since=${since}&waitMs=30000&match=${encodeURIComponent(`^${tag}-42`)}`,
  );
  assert.equal(seen.body.lines.length, 1, `the guest answered ${tag}`);
  await new Promise((r) => setTimeout(r, 300));
}

describe("real kernel: verdicts and life-ending keys", { skip, timeout: 180_000 }, () => {
  let target: Target | undefined;
  before(async () => {
    target = await startTarget(["sysctl.kernel.sysrq=1"], [], { reboot: true });
  });
  after(() => stopTarget(target));

  it("acknowledges six n while userspace prints the kernel's disabled line in a loop", async () => {
    const { api } = target!;
    const since = target!.daemon.ports.get("vm0").capture.lines.next;
    // The shell prints the fake line as fast as the UART takes it, in the background.
    const loop = `while :; do echo '${FAKE}'; done &\r`;
    assert.equal((await api.post("/ports/vm0/write", { data: loop })).status, 200);
    const flood = await api.get<LogBody>(
      `/ports/vm0/log?since=${since}&waitMs=10000&match=${encodeURIComponent("^\\[ 99\\.000000\\] sysrq: This")}`,
    );
    assert.ok(flood.body.lines.length > 0, "the loop is printing");
    try {
      const res = await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "nnnnnn", timeoutMs: 800 });
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.results.map((r) => `${r.verdict}:${r.action ?? ""}`),
        Array.from("nnnnnn", () => "acknowledged:Nice All RT Tasks"),
        JSON.stringify(res.body.results.map((r) => [r.verdict, r.line, r.note])),
      );
    } finally {
      await api.post("/ports/vm0/write", { data: "kill $!\r" });
    }
    await caughtUp(target!, "LOOP-KILLED");
  });

  it("paces writes to a stopped guest: 429 QUEUE_FULL beyond the line's budget, and a no-response h may still act", async () => {
    const { api, guest } = target!;
    // The typed lines are read and dropped, unechoed, until END (^C cannot stop anything here: the
    // console shell has no controlling tty).
    const sink = 'stty -echo; while read l; do [ "$l" = END ] && break; done; stty echo\r';
    assert.equal((await api.post("/ports/vm0/write", { data: sink })).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    const since = target!.daemon.ports.get("vm0").capture.lines.next;
    process.kill(guest.pid, "SIGSTOP");
    try {
      const [h] = (await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h", timeoutMs: 1500 })).body
        .results;
      assert.equal(h?.verdict, "no-response");
      assert.equal(h?.mayStillAct, true);
      assert.ok(h?.sentAt !== undefined && Math.abs(Date.parse(h.sentAt) - Date.now()) < 5000, h?.sentAt);
      assert.match(h?.reason ?? "", /may still run when it resumes/);

      const line = `# ${"x".repeat(97)}\n`;
      const data = line.repeat(600); // 60 000 bytes
      const startedAt = Date.now();
      const writes = await Promise.all(
        Array.from({ length: 40 }, async () => {
          const res = await api.post<{ code?: string }>("/ports/vm0/write", { data });
          return {
            status: res.status,
            code: res.body.code,
            retryAfter: res.headers.get("retry-after"),
            ms: Date.now() - startedAt,
          };
        }),
      );
      const ok = writes.filter((w) => w.status === 200);
      const refused = writes.filter((w) => w.status === 429);
      // 115200 baud is 11 520 bytes a second: 1 s in flight and 5 s of queue hold two 60 000-byte writes.
      assert.ok(ok.length >= 1 && ok.length <= 2, `accepted ${ok.length}`);
      assert.equal(refused.length, 40 - ok.length);
      for (const w of refused) {
        assert.equal(w.code, "QUEUE_FULL");
        assert.match(w.retryAfter ?? "", /^[1-9]\d*$/);
        assert.ok(w.ms < 5000, `refused within its timeoutMs (${w.ms} ms)`);
      }
      // The accepted bytes went out at the line rate, not at once: ~60 000 bytes take ~5.2 s.
      const last = Math.max(...ok.map((w) => w.ms));
      assert.ok(
        last >= ((ok.length * 60_000) / 11_520) * 1000 - 1500,
        `accepted writes done after ${last} ms`,
      );
    } finally {
      process.kill(guest.pid, "SIGCONT");
    }
    // The key left the daemon before the stop ended: the resumed kernel runs it, as mayStillAct said.
    const help = await api.get<LogBody>(
      `/ports/vm0/log?since=${since}&waitMs=15000&match=${encodeURIComponent("sysrq: HELP")}`,
    );
    assert.equal(help.body.lines.length, 1, "the resumed kernel ran h");
    assert.equal((await api.post("/ports/vm0/write", { data: "END\r" })).status, 200);
    await caughtUp(target!, "RESUMED");
  });

  it("skips the keys after an acknowledged b: nothing goes into the new boot", async () => {
    const { api } = target!;
    const since = target!.daemon.ports.get("vm0").capture.lines.next;
    const res = await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "bh", timeoutMs: 30_000 });
    assert.equal(res.status, 200);
    const [b, h] = res.body.results;
    assert.equal(b?.verdict, "acknowledged", JSON.stringify(b));
    // Under TCG on a loaded machine the new kernel's first line can take a while.
    assert.equal(b?.after?.event, "boot-banner", JSON.stringify(b?.output?.slice(-5)));
    assert.equal(h?.verdict, "skipped");
    assert.match(h?.reason ?? "", /key b \(Resetting\)/);
    // The guest reboots on the same socket; its new life shows no HELP (h was never sent).
    const ready = await api.get<LogBody>(`/ports/vm0/log?since=${since}&waitMs=60000&match=${READY_MARKER}`);
    assert.equal(ready.body.lines.length, 1, "the guest booted again");
    await new Promise((r) => setTimeout(r, 500));
    const lines = (await api.get<LogBody>(`/ports/vm0/log?since=${since}&limit=10000`)).body.lines;
    assert.ok(lines.some((l) => l.text.includes("sysrq: Resetting")));
    assert.ok(!lines.some((l) => l.text.includes("sysrq: HELP")), "no HELP after the reset");
  });
});
