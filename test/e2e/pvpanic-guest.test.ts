/**
 * QEMU's pvpanic device as a detector on the real guest (issue 17, "QEMU post-mortem"): the guest
 * runs with `-device pvpanic -action panic=pause` and loads `pvpanic-mmio` (the ISA device is ACPI
 * QEMU0001, which that driver binds); `echo c > /proc/sysrq-trigger` then raises QMP's
 * GUEST_PANICKED and prints the panic on the console: one `panic` incident holds both, with the
 * events that followed (STOP), and QEMU stays paused. Then the ladder [qemu-dump, power reset] on
 * that incident: QEMU writes a kdump-compressed dump into the incident's file before the reset (QMP
 * order: DUMP_COMPLETED, then RESET), GET /incidents/:id/dump serves it, and the guest is back.
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
import { READY_MARKER } from "../kit/index.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "socat");

describe("pvpanic on a real guest", { skip, timeout: 120_000 }, () => {
  let target: Target | undefined;
  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-pvpanic-"));
    const sock = path.join(dir, "qmp.sock");
    target = await startTarget(
      ["sysctl.kernel.sysrq=1", "panic=0"],
      ["-qmp", `unix:${sock},server=on,wait=off`, "-device", "pvpanic", "-action", "panic=pause"],
      {
        reboot: true,
        port: {
          qmp: { path: sock },
          power: { kind: "qmp" },
          // Held open for the ladder asked for below; `on` keeps the panic from starting it by itself.
          watch: { quietMs: 30_000 },
          recover: {
            on: ["oops"],
            until: READY_MARKER,
            untilTimeoutMs: 60_000,
            cooldownMs: 0,
            steps: ["qemu-dump", { power: "reset" }],
          },
        },
      },
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
    await new Promise((r) => setTimeout(r, 1000)); // a second incident would have opened by now
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
    assert.deepEqual([status.status, status.running], ["guest-panicked", false]);

    // The post-mortem: the dump before the reset, on the same incident.
    const res = await api.post<{ incident: Incident }>("/ports/vm0/recover", {});
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.incident.id, incident.id, "the ladder runs on the panic incident");
    await waitUntil(
      () => daemon.app.incidents.get(incident.id).outcome !== undefined,
      90_000,
      "the ladder's end",
    );
    const after = daemon.app.incidents.get(incident.id);
    assert.deepEqual(
      after.steps.map((s) => [s.step, s.verdict]),
      [
        ["qemu-dump", "done"],
        ["power reset", "done"],
        ["until", "matched"],
      ],
      JSON.stringify(after.steps),
    );
    assert.equal(after.outcome, "recovered");
    const order = (after.events ?? []).map((e) => e.event);
    assert.ok(order.includes("DUMP_COMPLETED") && order.includes("RESET"), JSON.stringify(order));
    assert.ok(order.indexOf("DUMP_COMPLETED") < order.indexOf("RESET"), `QMP order: ${order.join(", ")}`);

    const dump = await fetch(`${daemon.url}/incidents/${incident.id}/dump`);
    assert.equal(dump.status, 200);
    assert.equal(dump.headers.get("content-type"), "application/octet-stream");
    const bytes = Buffer.from(await dump.arrayBuffer());
    // QEMU 7.2 writes kdump in makedumpfile's flattened form (`makedumpfile -R` reassembles it): a
    // 4096-byte header, then blocks of {offset, size} (big-endian 64-bit) and data; the first block is
    // the kdump header at offset 0, with its signature.
    assert.equal(bytes.subarray(0, 12).toString("latin1"), "makedumpfile", "flattened-format signature");
    assert.equal(bytes.readBigInt64BE(4096), 0n, "the first block is at offset 0");
    assert.equal(bytes.subarray(4112, 4120).toString("latin1"), "KDUMP   ", "kdump-compressed signature");
    assert.ok(bytes.length > 4096, `a dump of guest memory (${bytes.length} bytes)`);
    console.log(
      `dump: ${bytes.length} bytes, ${after.steps[0]!.ms} ms; steps ms: ${after.steps.map((s) => s.ms).join(", ")}; events: ${JSON.stringify(after.events)}`,
    );
  });
});
