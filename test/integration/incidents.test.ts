/**
 * The crash watcher inside the daemon, over a fake wire that prints the real guest's recorded panic
 * (test/fixtures/crash/): GET /incidents and /incidents/:id, `since`/`next`, the incident file that a
 * restarted daemon reads back, `watch: false`, bad queries and unknown ids.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import path from "node:path";
import { after, describe, it } from "node:test";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import { pino } from "pino";
import { resolveConfig } from "../../src/config/load.js";
import { startDaemon, type Daemon } from "../../src/daemon/daemon.js";

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/crash/${name}.bin`, import.meta.url)).toString("latin1");
const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };

interface IncidentBody {
  id: string;
  port: string;
  kinds: string[];
  state: string;
  report: string[];
  context: string[];
  trigger: { line: string; seq: number; offset: number };
  spans: { kind: string; start: number; end: number }[];
}

describe("incidents", () => {
  const daemons: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const daemon of daemons) await daemon.close();
  });

  it("a panic on the console is one incident, served by id and in the listing, and kept across a restart", async () => {
    const kernel = new FakeKernel();
    const ports = [
      { id: "vm0", transport: telnet },
      { id: "quiet", transport: telnet, watch: false },
    ];
    const daemon = await startTestDaemon({ ports, createTransport: kernel.factory });
    daemons.push(daemon);
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
    const before = await daemon.app.inject({ url: "/incidents" });
    assert.equal(before.statusCode, 200);
    const { next } = before.json<{ next: number }>();
    const [vm0, quiet] = kernel.transports;
    assert.ok(vm0 && quiet);
    vm0.print(fixture("boot"));
    quiet.print(fixture("boot"));
    vm0.print(fixture("panic"));
    quiet.print(fixture("panic"));
    await waitUntil(
      async () =>
        (await daemon.app.inject({ url: `/incidents?since=${next}` })).json<{ incidents: unknown[] }>()
          .incidents.length > 0,
      3000,
      "an incident",
    );
    const list = (await daemon.app.inject({ url: `/incidents?since=${next}&port=vm0&state=open` })).json<{
      incidents: IncidentBody[];
      next: number;
    }>();
    assert.equal(list.incidents.length, 1);
    const incident = list.incidents[0] as IncidentBody;
    assert.deepEqual([incident.port, incident.kinds, incident.state], ["vm0", ["panic"], "open"]);
    assert.ok(
      incident.report.some((line) => line.includes("Call Trace:")),
      JSON.stringify(incident).slice(0, 1500),
    );
    assert.ok(incident.report.some((line) => line.includes("---[ end Kernel panic")));
    const none = (await daemon.app.inject({ url: `/incidents?since=${list.next}` })).json<{
      incidents: unknown[];
    }>();
    assert.deepEqual(none.incidents, [], "`next` is past every incident listed");
    const all = (await daemon.app.inject({ url: `/incidents` })).json<{ incidents: IncidentBody[] }>();
    assert.deepEqual(
      all.incidents.map((i) => i.port),
      ["vm0"],
      "watch: false watches nothing",
    );
    const one = await daemon.app.inject({ url: `/incidents/${incident.id}` });
    assert.equal(one.statusCode, 200);
    assert.equal(one.json<IncidentBody>().trigger.line, incident.trigger.line);
    const noDump = await daemon.app.inject({ url: `/incidents/${incident.id}/dump` });
    assert.deepEqual([noDump.statusCode, noDump.json<{ code: string }>().code], [404, "DUMP_NOT_FOUND"]);

    await daemon.close();
    assert.deepEqual(await readdir(path.join(daemon.captureDir, "incidents")), [`${incident.id}.json`]);
    const again = await startTestDaemon({
      ports,
      createTransport: kernel.factory,
      captureDir: daemon.captureDir,
    });
    daemons.push(again);
    const kept = await again.app.inject({ url: `/incidents/${incident.id}` });
    assert.equal(kept.statusCode, 200);
    const body = kept.json<IncidentBody & { outcome: string }>();
    assert.deepEqual(body.report, incident.report);
    assert.equal(body.state, "closed", "an incident open at shutdown can no longer be watched");
    const fresh = (await again.app.inject({ url: "/incidents" })).json<{ next: number }>();
    assert.equal(fresh.next, Number(incident.id) + 1, "ids go on from the kept ones");
  });

  it("rotation that deletes an incident's raw segments is recorded on it (live and found at start), served and kept", async () => {
    type Rotated = IncidentBody & { raw?: { rotatedAt: string; firstRetained: number; whole: boolean } };
    const kernel = new FakeKernel();
    const ports = [{ id: "vm0", transport: telnet }];
    // 4 KiB segments; at most 10 KiB of raw capture in the small config, 1 MiB in the large one.
    const capture = (maxTotalBytes: number) => ({ capture: { rotateBytes: 4096, maxTotalBytes } });
    const filler = (n: number): string =>
      Array.from(
        { length: n },
        (_, i) => `[  100.${String(i).padStart(6, "0")}] ordinary line ${"x".repeat(60)}\r\n`,
      ).join("");
    const get = async (d: { app: { inject(o: { url: string }): Promise<{ json<T>(): T }> } }, id: string) =>
      (await d.app.inject({ url: `/incidents/${id}` })).json<Rotated>();
    const panicOn = async (d: Daemon): Promise<Rotated> => {
      await waitUntil(() => d.ports.get("vm0").info().state === "open", 2000, "port open");
      const since = d.app.incidents.next;
      kernel.transports.at(-1)!.print(fixture("boot") + fixture("panic"));
      await waitUntil(
        () => d.app.incidents.list({ since, ports: null }).incidents.length > 0,
        3000,
        "incident",
      );
      // The report takes what follows until the console is quiet (2 s after its end line): the filler
      // printed next must not be part of it.
      await new Promise((r) => setTimeout(r, 2300));
      return get(d, d.app.incidents.list({ since, ports: null }).incidents[0]!.id);
    };

    // A large limit: the panic's segments outlive the filler, and the incident says nothing.
    const first = await startTestDaemon({ ports, createTransport: kernel.factory, config: capture(1 << 20) });
    daemons.push(first);
    const early = await panicOn(first);
    kernel.transports.at(-1)!.print(filler(400)); // ~36 KB: several segments
    await waitUntil(() => first.ports.get("vm0").capture.size > early.spans[0]!.end + 30_000, 3000, "filler");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await get(first, early.id)).raw, undefined, "nothing rotated away yet");
    await first.close();

    // Segments deleted while the daemon was down (by hand here; an older daemon's rotation, a kill -9
    // before the incident's file was rewritten): the incident read back at start says so.
    const dir = first.captureDir;
    const closed = (await readdir(dir)).filter((name) => /^vm0\.raw\.\d+$/.test(name)).sort();
    assert.ok(closed.length > 4, closed.join(" "));
    for (const name of closed.slice(0, -2)) {
      await rm(path.join(dir, name));
      await rm(path.join(dir, name.replace(".raw.", ".index.jsonl.")), { force: true });
    }
    const second = await startTestDaemon({
      ports,
      createTransport: kernel.factory,
      captureDir: dir,
      config: capture(1 << 20),
    });
    daemons.push(second);
    const kept = (await get(second, early.id)).raw!;
    assert.ok(kept, "raw on the incident read back");
    assert.equal(kept.whole, true, JSON.stringify(kept));
    assert.ok(kept.firstRetained >= early.spans.at(-1)!.end, JSON.stringify(kept));
    assert.ok(!Number.isNaN(Date.parse(kept.rotatedAt)));
    await second.close();

    // With 10 KiB, rotation under way deletes a new incident's segments: recorded as it happens.
    const third = await startTestDaemon({
      ports,
      createTransport: kernel.factory,
      captureDir: dir,
      config: capture(10_240),
    });
    daemons.push(third);
    const late = await panicOn(third);
    assert.equal(late.raw, undefined);
    kernel.transports.at(-1)!.print(filler(400));
    await waitUntil(
      async () => (await get(third, late.id)).raw?.whole === true,
      5000,
      "raw on the live incident",
    );
    const capture2 = third.ports.get("vm0").capture;
    assert.ok(capture2.firstRetained > late.spans.at(-1)!.end);
    await third.app.incidents.flush();
    const file = JSON.parse(
      readFileSync(path.join(third.captureDir, "incidents", `${late.id}.json`), "utf8"),
    ) as Rotated;
    assert.equal(file.raw?.whole, true, "its file was rewritten");
    await third.close();

    const fourth = await startTestDaemon({
      ports,
      createTransport: kernel.factory,
      captureDir: dir,
      config: capture(10_240),
    });
    daemons.push(fourth);
    assert.deepEqual((await get(fourth, late.id)).raw, file.raw, "kept across a restart as it was");
    assert.deepEqual((await get(fourth, early.id)).raw, kept);
  });

  it("unknown ids are 404 INCIDENT_NOT_FOUND; bad queries are 400", async () => {
    const daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: telnet }],
      createTransport: new FakeKernel().factory,
    });
    daemons.push(daemon);
    const missing = await daemon.app.inject({ url: "/incidents/999" });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json<{ code: string }>().code, "INCIDENT_NOT_FOUND");
    const missingDump = await daemon.app.inject({ url: "/incidents/999/dump" });
    assert.equal(missingDump.json<{ code: string }>().code, "INCIDENT_NOT_FOUND");
    for (const url of [
      "/incidents/abc",
      "/incidents/abc/dump",
      "/incidents?state=gone",
      "/incidents?since=-1",
      "/incidents?port=../etc",
      "/incidents?limit=100000",
      "/incidents?bogus=1",
    ]) {
      const bad = await daemon.app.inject({ url });
      assert.equal(bad.statusCode, 400, url);
      assert.equal(bad.json<{ code: string }>().code, "VALIDATION", url);
    }
    const metrics = await daemon.app.inject({ url: "/metrics" });
    assert.match(metrics.body, /sysrq_bridge_incidents_total/);
  });

  it("a reload applies a changed watch: `watch: false` stops it, turning it back on starts it", async () => {
    const kernel = new FakeKernel();
    const captureDir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-incidents-"));
    let watch: unknown = false;
    const config = () => resolveConfig({ captureDir, ports: [{ id: "vm0", transport: telnet, watch }] }, "/");
    const daemon = await startDaemon({
      config: config(),
      logger: pino({ level: "silent" }),
      listen: false,
      createTransport: kernel.factory,
      loadConfig: () => Promise.resolve(config()),
    });
    daemons.push(daemon);
    const opened = async (): Promise<number> =>
      (await daemon.app.inject({ url: "/incidents" })).json<{ incidents: unknown[] }>().incidents.length;
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
    kernel.transports.at(-1)?.print(fixture("boot") + fixture("panic"));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await opened(), 0, "watch: false");
    watch = { quietMs: 5000 };
    assert.deepEqual((await daemon.reload()).changed, ["vm0"]);
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open again");
    kernel.transports.at(-1)?.print(fixture("boot") + fixture("panic"));
    await waitUntil(async () => (await opened()) === 1, 3000, "the incident after the reload");
  });
});
