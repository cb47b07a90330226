/**
 * QEMU's pvpanic device as a detector on the real guest (issue 17, "QEMU post-mortem"): the guest
 * runs with `-device pvpanic -action panic=pause` and loads `pvpanic-mmio` (the ISA device is ACPI
 * QEMU0001, which that driver binds); `echo c > /proc/sysrq-trigger` then raises QMP's
 * GUEST_PANICKED and prints the panic on the console: one `panic` incident holds both, with the
 * events that followed (STOP), and QEMU stays paused.
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Incident } from "../../src/recovery/incidents.js";
import { waitUntil } from "../helpers/daemon.js";
import type { LogBody } from "../helpers/http.js";
import { startTarget, stopTarget, type Target } from "../helpers/qemu-target.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "socat");

describe("pvpanic on a real guest", { skip, timeout: 120_000 }, () => {
  let target: Target | undefined;
  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-pvpanic-"));
    const sock = path.join(dir, "qmp.sock");
    target = await startTarget(
      ["sysctl.kernel.sysrq=1", "panic=0"],
      ["-qmp", `unix:${sock},server=on,wait=off`, "-device", "pvpanic", "-action", "panic=pause"],
      { port: { qmp: { path: sock }, watch: { quietMs: 3000 } } },
    );
  });
  after(() => stopTarget(target));

  it("GUEST_PANICKED and the console's panic report make one incident; QEMU is paused", async () => {
    const { api, daemon } = target!;
    const mark = daemon.ports.get("vm0").capture.lines.next;
    assert.equal(
      (
        await api.post("/ports/vm0/write", {
          data: "modprobe pvpanic-mmio && ls /sys/bus/platform/drivers/pvpanic-mmio && echo PV$((40+2))\r",
        })
      ).status,
      200,
    );
    const loaded = await api.get<LogBody>(`/ports/vm0/log?since=${mark}&waitMs=15000&match=^PV42`);
    assert.equal(loaded.body.lines.length, 1, "the driver loaded");
    const bound = await api.get<LogBody>(`/ports/vm0/log?since=${mark}`);
    assert.ok(
      bound.body.lines.some((l) => l.text.includes("QEMU0001")),
      `pvpanic-mmio bound the ISA device (ACPI QEMU0001): ${JSON.stringify(bound.body.lines.map((l) => l.text))}`,
    );

    const since = daemon.app.incidents.next;
    assert.equal(
      (await api.post("/ports/vm0/write", { data: "echo c > /proc/sysrq-trigger\r" })).status,
      200,
    );
    const mine = (): Incident[] => daemon.app.incidents.list({ port: "vm0", since, ports: null }).incidents;
    await waitUntil(
      () => {
        const first = mine()[0];
        return (
          first !== undefined &&
          (first.events ?? []).some((e) => e.event === "STOP") &&
          first.report.some((line) => line.includes("Kernel panic - not syncing"))
        );
      },
      20_000,
      "the incident with the console's report and the QMP events",
    );
    // The watcher's quiet closes the incident; the verdict stays one incident.
    await waitUntil(() => mine()[0]?.state === "closed", 10_000, "the incident closed");
    const incidents = mine();
    assert.equal(incidents.length, 1, JSON.stringify(incidents.map((i) => [i.id, i.kinds, i.trigger])));
    const incident = incidents[0]!;
    assert.deepEqual(incident.kinds, ["panic"]);
    const events = (incident.events ?? []).map((e) => e.event);
    assert.deepEqual(events.slice(0, 2), ["GUEST_PANICKED", "STOP"]);
    assert.deepEqual((incident.events![0]!.data as { action?: string }).action, "pause");
    const http = await api.get<Incident>(`/incidents/${incident.id}`);
    assert.deepEqual(
      http.body.events?.map((e) => e.event),
      events,
      "GET /incidents/:id shows the events",
    );

    const status = (await daemon.ports.get("vm0").qmp!.execute("query-status")) as {
      status: string;
      running: boolean;
    };
    assert.deepEqual([status.status, status.running], ["guest-panicked", false]);
  });
});
