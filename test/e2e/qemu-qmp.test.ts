/** QMP-driven methods against the real guest: NMI (inject-nmi) and keyboard SysRq (send-key). */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../target/guest.js";
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

async function startNmiTarget(append: string[]) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-nmi-"));
  const qmpPath = path.join(dir, "qmp.sock");
  const telnetPort = await freeTcpPort();
  const guest = await startGuest({
    telnetPort,
    append,
    extraArgs: ["-qmp", `unix:${qmpPath},server=on,wait=off`],
  });
  const daemon = await startTestDaemon({
    listen: true,
    ports: [
      {
        id: "vm0",
        transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort },
        qmp: { path: qmpPath },
        nmi: { kind: "qmp" },
      },
    ],
  });
  const api = client(daemon.url);
  await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
  await new Promise((r) => setTimeout(r, 500));
  return { guest, daemon, api };
}

for (const [name, append, verdict, settling] of [
  ["a kernel that carries on", [], "acknowledged", /Dazed and confused, but trying to continue/],
  ["unknown_nmi_panic=1", ["unknown_nmi_panic=1"], "panic", /Kernel panic - not syncing: NMI/],
] as const) {
  describe(`NMI over QMP, ${name}`, { skip, timeout: 120_000 }, () => {
    let target: { guest: Guest; daemon: Daemon; api: ReturnType<typeof client> } | undefined;
    before(async () => {
      target = await startNmiTarget([...append]);
    });
    after(async () => {
      await target?.daemon.close();
      await target?.guest.stop();
    });

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
  let target: { guest: Guest; daemon: Daemon; api: ReturnType<typeof client> } | undefined;
  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-kbd-"));
    const qmpPath = path.join(dir, "qmp.sock");
    const telnetPort = await freeTcpPort();
    const guest = await startGuest({
      telnetPort,
      append: ["sysctl.kernel.sysrq=1"],
      extraArgs: ["-qmp", `unix:${qmpPath},server=on,wait=off`],
    });
    const daemon = await startTestDaemon({
      listen: true,
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort },
          qmp: { path: qmpPath },
          sysrq: { via: "keyboard" },
        },
      ],
    });
    const api = client(daemon.url);
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    await new Promise((r) => setTimeout(r, 500));
    target = { guest, daemon, api };
  });
  after(async () => {
    await target?.daemon.close();
    await target?.guest.stop();
  });

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
});

describe(
  "a -chardev pty guest: path from QMP query-chardev, BREAK through QMP chardev-send-break",
  { skip, timeout: 120_000 },
  () => {
    let target: { guest: Guest; daemon: Daemon; api: ReturnType<typeof client> } | undefined;
    before(async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-ptyguest-"));
      const qmpPath = path.join(dir, "qmp.sock");
      const guest = await startGuest({
        serial: "pty",
        append: ["sysctl.kernel.sysrq=1"],
        extraArgs: ["-qmp", `unix:${qmpPath},server=on,wait=off`],
      });
      const tty = { kind: "tty", qmpChardev: "s0" };
      const daemon = await startTestDaemon({
        listen: true,
        ports: [{ id: "vm2", transport: tty, qmp: { path: qmpPath }, break: { kind: "qmp", chardev: "s0" } }],
      });
      const api = client(daemon.url);
      await api.get<LogBody>(`/ports/vm2/log?since=0&waitMs=60000&match=${READY_MARKER}`);
      await new Promise((r) => setTimeout(r, 500));
      target = { guest, daemon, api };
    });
    after(async () => {
      await target?.daemon.close();
      await target?.guest.stop();
    });

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
