/**
 * What the daemon claims about a SysRq key must hold against a real kernel (issue 13): a verdict
 * that userspace text cannot forge, and no key sent into the boot that follows a reboot.
 * One guest (kernel.sysrq=1, allowed to reboot in place) for the whole file.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LogBody, SysrqBody } from "../helpers/http.js";
import { startTarget, stopTarget, waitForPrompt, type Target } from "../helpers/qemu-target.js";
import { requireTools } from "../helpers/tools.js";
import { READY_MARKER } from "../target/guest.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");
const FAKE = "[ 99.000000] sysrq: This sysrq operation is disabled.";

describe("real kernel: verdicts and life-ending keys", { skip, timeout: 180_000 }, () => {
  let target: Target | undefined;
  before(async () => {
    target = await startTarget(["sysctl.kernel.sysrq=1"], [], { reboot: true });
  });
  after(() => stopTarget(target));

  it("acknowledges six n while userspace prints the kernel's disabled line in a loop", async () => {
    const { api } = target!;
    const since = (await api.get<LogBody>("/ports/vm0/log?since=0&limit=1")).body.next;
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
    await waitForPrompt(api);
  });

  it("skips the keys after an acknowledged b: nothing goes into the new boot", async () => {
    const { api } = target!;
    const since = (await api.get<LogBody>("/ports/vm0/log?since=0&limit=1")).body.next;
    const res = await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "bh", timeoutMs: 15_000 });
    assert.equal(res.status, 200);
    const [b, h] = res.body.results;
    assert.equal(b?.verdict, "acknowledged");
    assert.equal(b?.after?.event, "boot-banner");
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
