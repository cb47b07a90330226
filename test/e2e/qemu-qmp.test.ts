/** QMP-driven methods against the real guest: NMI (inject-nmi) and keyboard SysRq (send-key). */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";
import { startTestDaemon } from "../helpers/daemon.js";
import { client, type LogBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");

interface NmiBody {
  verdict: string;
  line: string | null;
  latencyMs: number | null;
  output: string[];
}

interface QmpTarget {
  guest: Guest;
  daemon: Daemon;
  api: ReturnType<typeof client>;
}

/**
 * Boots the guest with a QMP socket, starts the daemon with one port `id` (its config built from the
 * QMP path and telnet port), and waits for the guest's ready marker through the daemon.
 */
async function startQmpTarget(options: {
  append: string[];
  serial?: "telnet" | "pty";
  /** No -no-reboot: a SysRq b boots the guest again on the same port. */
  reboot?: boolean;
  port: (qmpPath: string, telnetPort: number) => { id: string } & Record<string, unknown>;
}): Promise<QmpTarget> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-qmp-"));
  const qmpPath = path.join(dir, "qmp.sock");
  const telnetPort = await freeTcpPort();
  const guest = await startGuest({
    telnetPort,
    append: options.append,
    ...(options.serial ? { serial: options.serial } : {}),
    reboot: options.reboot === true,
    extraArgs: ["-qmp", `unix:${qmpPath},server=on,wait=off`],
  });
  const port = options.port(qmpPath, telnetPort);
  const daemon = await startTestDaemon({ listen: true, ports: [port] });
  const api = client(daemon.url);
  await api.get<LogBody>(`/ports/${port.id}/log?since=0&waitMs=60000&match=${READY_MARKER}`);
  await new Promise((r) => setTimeout(r, 500));
  return { guest, daemon, api };
}

async function stopQmpTarget(target: QmpTarget | undefined): Promise<void> {
  await target?.daemon.close();
  await target?.guest.stop();
}

const telnetTo = (port: number) => ({ kind: "telnet", host: "127.0.0.1", port });

for (const [name, append, verdict, settling] of [
  ["a kernel that carries on", [], "acknowledged", /Dazed and confused, but trying to continue/],
  ["unknown_nmi_panic=1", ["unknown_nmi_panic=1"], "panic", /Kernel panic - not syncing: NMI/],
] as const) {
  describe(`NMI over QMP, ${name}`, { skip, timeout: 120_000 }, () => {
    let target: QmpTarget | undefined;
    before(async () => {
      target = await startQmpTarget({
        append: [...append],
        port: (qmpPath, telnetPort) => ({
          id: "vm0",
          transport: telnetTo(telnetPort),
          qmp: { path: qmpPath },
          nmi: { kind: "qmp" },
        }),
      });
    });
    after(() => stopQmpTarget(target));

    it(`lists the method and answers ${verdict}, settled by the line after the report`, async () => {
      const info = await target!.api.get<{ capabilities: { nmi: { available: boolean; method?: string } } }>(
        "/ports/vm0",
      );
      assert.deepEqual(
        [info.body.capabilities.nmi.available, info.body.capabilities.nmi.method],
        [true, "qmp"],
      );
      const res = await target!.api.post<NmiBody>("/ports/vm0/nmi", { timeoutMs: 5000 });
      assert.equal(res.status, 200);
      assert.equal(res.body.verdict, verdict);
      assert.match(res.body.line ?? "", settling);
      assert.ok(res.body.output.some((l) => /Uhhuh\. NMI received for unknown reason/.test(l)));
    });
  });
}

describe("keyboard SysRq over QMP send-key", { skip, timeout: 120_000 }, () => {
  let target: QmpTarget | undefined;
  before(async () => {
    target = await startQmpTarget({
      append: ["sysctl.kernel.sysrq=1"],
      reboot: true,
      port: (qmpPath, telnetPort) => ({
        id: "vm0",
        transport: telnetTo(telnetPort),
        qmp: { path: qmpPath },
        sysrq: { via: "keyboard" },
      }),
    });
  });
  after(() => stopQmpTarget(target));

  it("presses Alt+SysRq+key with no BREAK on the line, and reads the verdict from the serial console", async () => {
    const info = await target!.api.get<{ capabilities: { sysrq: { method: string } } }>("/ports/vm0");
    assert.equal(info.body.capabilities.sysrq.method, "keyboard");
    const index = target!.daemon.ports.get("vm0").capture.files.index;
    const res = await target!.api.post<{ results: { key: string; verdict: string; action?: string }[] }>(
      "/ports/vm0/sysrq",
      { keys: "hm", timeoutMs: 5000 },
    );
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.results.map((r) => [r.key, r.verdict, r.action]),
      [
        ["h", "acknowledged", "HELP"],
        ["m", "acknowledged", "Show Memory"],
      ],
    );
    assert.doesNotMatch(await readFile(index, "utf8"), /"break":true/, "no BREAK was sent");
    const upper = await target!.api.post<{ code: string }>("/ports/vm0/sysrq", { keys: "R" });
    assert.equal(upper.status, 400);
    assert.equal(upper.body.code, "INVALID_KEY");
  });

  it("tells the crash watcher the keys were ours: l's backtraces and the boot b causes open no incident", async () => {
    const api = target!.api;
    const { next } = (await api.get<{ next: number }>("/incidents")).body;
    const l = await api.post<{ results: { verdict: string }[] }>("/ports/vm0/sysrq", {
      keys: "l",
      timeoutMs: 5000,
    });
    assert.deepEqual([l.status, l.body.results[0]?.verdict], [200, "acknowledged"]);
    const seq = target!.daemon.ports.get("vm0").capture.lines.next;
    const b = await api.post<{ results: { verdict: string }[] }>("/ports/vm0/sysrq", {
      keys: "b",
      timeoutMs: 5000,
    });
    assert.equal(b.status, 200, JSON.stringify(b.body));
    // A new kernel on the same port: its banner follows this boot's output with no reboot line.
    const booted = await api.get<LogBody>(`/ports/vm0/log?since=${seq}&waitMs=60000&match=${READY_MARKER}`);
    assert.equal(booted.status, 200);
    const banner = await api.get<LogBody>(`/ports/vm0/log?since=${seq}&match=Linux%20version`);
    assert.ok(banner.body.lines.length > 0, "the guest booted again");
    await new Promise((r) => setTimeout(r, 500));
    const incidents = await api.get<{ incidents: { kinds: string[]; trigger: { line: string } }[] }>(
      `/incidents?since=${next}`,
    );
    assert.deepEqual(incidents.body.incidents, [], JSON.stringify(incidents.body).slice(0, 1500));
  });
});

describe(
  "a -chardev pty guest: path from QMP query-chardev, BREAK through QMP chardev-send-break",
  { skip, timeout: 120_000 },
  () => {
    let target: QmpTarget | undefined;
    before(async () => {
      target = await startQmpTarget({
        append: ["sysctl.kernel.sysrq=1"],
        serial: "pty",
        port: (qmpPath) => ({
          id: "vm2",
          transport: { kind: "tty", qmpChardev: "s0" },
          qmp: { path: qmpPath },
          break: { kind: "qmp", chardev: "s0" },
        }),
      });
    });
    after(() => stopQmpTarget(target));

    it("opens the pty QMP names and gets SysRq answered through a QMP break", async () => {
      const info = await target!.api.get<{
        state: string;
        capabilities: { break: { available: boolean; method?: string } };
      }>("/ports/vm2");
      assert.equal(info.body.state, "open");
      assert.deepEqual(
        [info.body.capabilities.break.available, info.body.capabilities.break.method],
        [true, "qmp-chardev-send-break"],
      );
      const res = await target!.api.post<{ results: { key: string; verdict: string; action?: string }[] }>(
        "/ports/vm2/sysrq",
        { keys: "hm", timeoutMs: 5000 },
      );
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.results.map((r) => [r.key, r.verdict, r.action]),
        [
          ["h", "acknowledged", "HELP"],
          ["m", "acknowledged", "Show Memory"],
        ],
      );
    });
  },
);
