/**
 * Recovery ladders on the real guest (issue 16, cases 1, 3 and 5), one guest for the file, allowed to
 * reboot in place and powered through QMP:
 *   1. a panic with panic=0: the watcher's `panic` incident starts the default ladder; the probe
 *      answers no-response (a panicked kernel runs SysRq silently), the SysRq steps are skipped, QMP
 *      power brings the ready line back: recovered.
 *   3. userspace hung, kernel alive (a foreground loop that ignores input): POST /recover runs the
 *      default ladder: w, l (and t) acknowledged with their dumps, s u b acknowledged, recovered
 *      without power.
 *   silence: a reload turns on a short silenceMs with `on: [silence]`; the quiet guest's `silence`
 *      incident starts the ladder, whose probe finds the kernel alive: observed, only BREAK + h sent.
 *      A second reload restores the config.
 *   5. the failure past maxPerHour: quarantined, nothing sent, health bad until an admin lifts it.
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Incident } from "../../src/recovery/incidents.js";
import { waitUntil } from "../helpers/daemon.js";
import { startTarget, stopTarget, waitForPrompt, type Target } from "../helpers/qemu-target.js";
import { requireTools } from "../helpers/tools.js";
import { READY_MARKER } from "../kit/index.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "socat");

describe("recovery ladders on a real guest", { skip, timeout: 240_000 }, () => {
  let target: Target | undefined;
  /** The silence case's reload: silence watched (3 s) and starting the ladder (its third this hour). */
  let silence = false;
  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-recover-"));
    const sock = path.join(dir, "daemon.sock");
    const port = () => ({
      qmp: { path: sock },
      power: { kind: "qmp" },
      watch: { quietMs: 2000, ...(silence ? { silenceMs: 3000 } : {}) },
      recover: {
        until: READY_MARKER,
        untilTimeoutMs: 60_000,
        cooldownMs: 0,
        maxPerHour: silence ? 3 : 2,
        ...(silence ? { on: ["silence"] } : {}),
      },
    });
    target = await startTarget(
      ["sysctl.kernel.sysrq=1", "panic=0"],
      ["-qmp", `unix:${sock},server=on,wait=off`],
      { reboot: true, port: port(), portOnReload: port },
    );
  });
  after(() => stopTarget(target));

  /**
   * The first incident since `since` (a `reboot` one may follow it) once its ladder has ended; read
   * in process, since polling over HTTP would meet the rate limit.
   */
  async function ended(since: number, timeoutMs: number): Promise<Incident> {
    const first = () => target!.daemon.app.incidents.list({ port: "vm0", since, ports: null }).incidents[0];
    await waitUntil(() => first()?.outcome !== undefined, timeoutMs, "the ladder's end");
    return first()!;
  }

  const health = async (): Promise<string> =>
    (await target!.api.get<{ health: string }>("/ports/vm0")).body.health;
  const steps = (incident: Incident) => incident.steps.map((s) => [s.step, s.verdict]);

  it("case 1: a panic (panic=0): probe no-response, SysRq skipped, QMP power cycle, recovered", async () => {
    const { api, daemon } = target!;
    const since = daemon.app.incidents.next;
    assert.equal(
      (await api.post("/ports/vm0/write", { data: "echo c > /proc/sysrq-trigger\r" })).status,
      200,
    );
    await waitUntil(() => daemon.app.recovery.health("vm0") === "recovering", 20_000, "health recovering");
    const incident = await ended(since, 90_000);
    assert.deepEqual(incident.kinds, ["panic"]);
    assert.ok(
      incident.report.some((line) => line.endsWith("Call Trace:")),
      "the report holds the Call Trace",
    );
    assert.ok(
      incident.report.some((line) => line.includes("---[ end Kernel panic")),
      "and the end line",
    );
    assert.equal(incident.outcome, "recovered", JSON.stringify(incident.steps));
    assert.deepEqual(steps(incident), [
      ["probe", "no-response"],
      ["sysrq w", "skipped"],
      ["sysrq l", "skipped"],
      ["sysrq t", "skipped"],
      ["sysrq s", "skipped"],
      ["sysrq u", "skipped"],
      ["sysrq b", "skipped"],
      ["power cycle", "done"],
      ["until", "matched"],
    ]);
    assert.match(incident.steps[7]!.output.join("\n"), /Linux version/);
    assert.match(incident.steps[8]!.output[0] ?? "", new RegExp(READY_MARKER));
    assert.equal(await health(), "good");
    const audit = await api.get<{ entries: Record<string, unknown>[] }>("/audit?port=vm0");
    const mine = audit.body.entries.filter((r) => r["token"] === "recovery" && r["incident"] === incident.id);
    assert.deepEqual(
      mine.map((r) => r["action"]),
      ["probe", "power", "recover"],
    );
    await waitForPrompt(api);
  });

  it("case 3: userspace hung, kernel alive: dumps acknowledged, s u b, recovered without power", async () => {
    const { api, daemon } = target!;
    assert.equal((await api.post("/ports/vm0/write", { data: "while :; do :; done\r" })).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    const since = daemon.app.incidents.next;
    const res = await api.post<{ incident: Incident }>("/ports/vm0/recover", {});
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const incident = await ended(since, 90_000);
    assert.equal(incident.id, res.body.incident.id);
    assert.equal(incident.outcome, "recovered", JSON.stringify(steps(incident)));
    assert.deepEqual(steps(incident), [
      ["probe", "alive"],
      ["sysrq w", "acknowledged"],
      ["sysrq l", "acknowledged"],
      ["sysrq t", "acknowledged"],
      ["sysrq s", "acknowledged"],
      ["sysrq u", "acknowledged"],
      ["sysrq b", "acknowledged"],
      ["until", "matched"],
    ]);
    const l = incident.steps[2]!;
    assert.ok(l.output.length > 1, "the l dump is stored with its step");
    assert.ok(!incident.steps.some((s) => s.step.startsWith("power")), "no power");
    await waitForPrompt(api);
  });

  it("silence on a quiet guest: the ladder's probe finds the kernel alive, outcome observed, only h sent", async () => {
    const { api, daemon } = target!;
    const since = daemon.app.incidents.next;
    silence = true;
    assert.deepEqual((await daemon.reload()).changed, ["vm0"]);
    const audited = (await api.get<{ entries: { seq: number }[] }>("/audit?port=vm0")).body.entries.at(
      -1,
    )!.seq;
    const incident = await ended(since, 20_000);
    // Back to the file's config before the next silence (3 s after the probe's output) starts another.
    silence = false;
    assert.deepEqual((await daemon.reload()).changed, ["vm0"]);
    assert.deepEqual(
      [incident.kinds, incident.outcome, steps(incident)],
      [["silence"], "observed", [["probe", "alive"]]],
      JSON.stringify(incident.steps),
    );
    // The guest's own HELP line answered the probe's BREAK + h.
    assert.match(incident.steps[0]!.output[0] ?? "", /^kernel: alive \(h: acknowledged: .*sysrq: HELP/);
    assert.equal(await health(), "good");
    // Nothing but the probe went out on the port's behalf since the reload.
    const audit = await api.get<{ entries: Record<string, unknown>[] }>(
      `/audit?port=vm0&since=${audited + 1}`,
    );
    assert.deepEqual(
      audit.body.entries.filter((r) => r["token"] === "recovery").map((r) => [r["action"], r["incident"]]),
      [
        ["probe", incident.id],
        ["recover", incident.id],
      ],
    );
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 10_000, "port open again");
  });

  it("case 5: the failure past maxPerHour quarantines the port: no action, health bad until lifted", async () => {
    const { api, daemon } = target!;
    await new Promise((r) => setTimeout(r, 2100)); // the watcher's last incident has closed (quietMs)
    const since = daemon.app.incidents.next;
    const sent = daemon.ports.get("vm0").capture.size;
    assert.equal(
      (await api.post("/ports/vm0/write", { data: "echo c > /proc/sysrq-trigger\r" })).status,
      200,
    );
    const incident = await ended(since, 30_000);
    assert.deepEqual([incident.kinds, incident.outcome, incident.steps], [["panic"], "quarantined", []]);
    assert.equal(await health(), "bad");
    await new Promise((r) => setTimeout(r, 2500));
    const audit = await api.get<{ entries: Record<string, unknown>[] }>("/audit?port=vm0");
    const after = audit.body.entries.filter(
      (r) => r["token"] === "recovery" && r["incident"] === incident.id,
    );
    assert.deepEqual(
      after.map((r) => r["action"]),
      ["quarantine"],
      "nothing sent on the quarantined port's behalf",
    );
    assert.ok(daemon.ports.get("vm0").capture.size > sent);
    const refused = await api.post<{ code: string }>("/ports/vm0/recover", {});
    assert.deepEqual([refused.status, refused.body.code], [409, "PORT_QUARANTINED"]);
    const lift = await fetch(`${daemon.url}/ports/vm0/quarantine`, { method: "DELETE" });
    assert.deepEqual(await lift.json(), { lifted: true, health: "good" });
  });
});
