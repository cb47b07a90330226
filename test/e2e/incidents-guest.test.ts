/**
 * The crash watcher on the real guest (one guest for the file), with the built daemon (dist/main.js)
 * so it can be killed with SIGKILL: an ordinary boot and BREAK + l open no incident; a panic from the
 * guest's shell (echo c > /proc/sysrq-trigger, panic=0 so it stays on screen) opens ONE `panic`
 * incident holding the Call Trace and the `---[ end Kernel panic` line; the daemon killed with
 * SIGKILL and started again still serves that incident.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";
import { bin, listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";

interface Incident {
  id: string;
  kinds: string[];
  state: string;
  report: string[];
}
interface Listing {
  incidents: Incident[];
  next: number;
}

describe("incidents on the real guest", { skip: !existsSync(bin) && "npm run build first" }, () => {
  const procs: BinProcess[] = [];
  let guest: Guest | undefined;
  after(async () => {
    for (const proc of procs) proc.child.kill("SIGKILL");
    await guest?.stop();
  });

  it("boot and BREAK + l open none; a panic opens one with its whole report, kept across kill -9", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-incidents-"));
    const [telnetPort, httpPort] = [await freeTcpPort(), await freeTcpPort()];
    const config = path.join(root, "config.yaml");
    await writeFile(
      config,
      `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ${path.join(root, "captures")}\n` +
        `log: { level: warn }\nports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${telnetPort} }\n`,
    );
    const base = `http://127.0.0.1:${httpPort}`;
    const get = async <T>(url: string): Promise<T> => (await (await fetch(`${base}${url}`)).json()) as T;
    const post = async (url: string, body: unknown): Promise<Response> =>
      fetch(`${base}${url}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    const first = run(["--config", config]);
    procs.push(first);
    await listening(first, httpPort);
    const { next: start } = await get<Listing>("/incidents");
    guest = await startGuest({ telnetPort, append: ["sysrq_always_enabled=1", "panic=0"] });
    await get(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    await get(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual((await get<Listing>(`/incidents?since=${start}`)).incidents, [], "an ordinary boot");

    const dump = await post("/ports/vm0/sysrq", { keys: "l", settleMs: 1000 });
    assert.equal(dump.status, 200);
    await new Promise((r) => setTimeout(r, 1500));
    const { incidents: afterDump, next } = await get<Listing>(`/incidents?since=${start}`);
    assert.deepEqual(afterDump, [], "BREAK + l prints backtraces that are our own action's output");

    assert.equal((await post("/ports/vm0/write", { data: "echo c > /proc/sysrq-trigger\r" })).status, 200);
    let panic: Incident | undefined;
    await waitUntil(
      async () => {
        panic = (await get<Listing>(`/incidents?since=${next}`)).incidents[0];
        return panic?.report.some((line) => line.includes("---[ end Kernel panic")) === true;
      },
      30_000,
      "a panic incident with its end line",
    );
    assert.ok(panic);
    const { incidents } = await get<Listing>(`/incidents?since=${next}`);
    assert.equal(incidents.length, 1, "one failure, one incident");
    assert.deepEqual(panic.kinds, ["panic"]);
    assert.ok(panic.report.some((line) => line.endsWith("Call Trace:")));
    assert.match(panic.report[0] ?? "", /Kernel panic - not syncing: sysrq triggered crash/);

    // The report's growth is written within a second; then the daemon dies without a word.
    await new Promise((r) => setTimeout(r, 1500));
    first.child.kill("SIGKILL");
    await first.exited;
    const second = run(["--config", config]);
    procs.push(second);
    await listening(second, httpPort);
    const kept = await get<Incident>(`/incidents/${panic.id}`);
    assert.deepEqual(kept.kinds, ["panic"]);
    assert.ok(kept.report.some((line) => line.endsWith("Call Trace:")));
    assert.ok(kept.report.some((line) => line.includes("---[ end Kernel panic")));
  });
});
