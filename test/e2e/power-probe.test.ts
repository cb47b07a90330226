/**
 * Probe and power against the real guest (issue 16, sections 2 and 4; issue 17's pdudaemon). One guest
 * for the file, allowed to reboot in place (a QMP system_reset with -no-reboot ends QEMU), with three
 * QMP sockets: the daemon's, the test's own (QMP serves one client per socket) and one for the command
 * and pdudaemon channels' scripts. Two daemons in turn on the same guest: the first powers through
 * QMP, the second through a command, then (reloaded) through the real pdudaemon.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { QmpClient } from "../../src/control/qmp.js";
import { startTestDaemon } from "../helpers/daemon.js";
import { client, type LogBody } from "../helpers/http.js";
import { startTarget, stopTarget, waitForPrompt, type Target } from "../helpers/qemu-target.js";
import { requireTools } from "../helpers/tools.js";
import { READY_MARKER, freeTcpPort } from "../kit/index.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "socat");

interface ProbeBody {
  kernel: string;
  userspace: string;
  vm?: string;
  evidence: {
    kernel: { verdict: string; line: string | null };
    userspace: { tail?: string; reason?: string };
    vm?: { status?: string; reason?: string };
  };
}

interface PowerBody {
  action: string;
  verdict: string;
  ms: number;
  code?: string;
  message?: string;
  evidence: {
    channel: string;
    steps: string[];
    status?: string;
    reply?: string;
    banner: string | null;
    exitCode?: number;
    stderr?: string;
    output: string[];
  };
}

/** Waits for the guest's next boot to reach its shell (after `since`). */
async function bootedAgain(api: ReturnType<typeof client>, since: number): Promise<void> {
  const ready = await api.get<LogBody>(`/ports/vm0/log?since=${since}&waitMs=60000&match=${READY_MARKER}`);
  assert.equal(ready.body.lines.length, 1, "the guest booted again");
  await waitForPrompt(api);
}

/** Resolves once something accepts TCP connections on the port, or rejects at the deadline. */
async function listening(port: number, withinMs: number): Promise<void> {
  const end = Date.now() + withinMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (up) return;
    if (Date.now() > end) throw new Error(`nothing listening on ${port} within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("probe and power on a real guest", { skip, timeout: 300_000 }, () => {
  let target: Target | undefined;
  let testQmp: QmpClient | undefined;
  let dir = "";
  let pdudaemon: ChildProcess | undefined;
  /** The ports the command case's daemon reads on POST /reload. */
  let reloadedPorts: unknown[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-power-"));
    const sockets = ["daemon", "test", "script"].map((name) => path.join(dir, `${name}.sock`));
    target = await startTarget(
      ["sysctl.kernel.sysrq=1"],
      sockets.flatMap((sock) => ["-qmp", `unix:${sock},server=on,wait=off`]),
      {
        reboot: true,
        port: { qmp: { path: sockets[0] }, power: { kind: "qmp" }, probe: { userspace: true } },
      },
    );
    testQmp = new QmpClient({ path: sockets[1]! });
  });
  after(async () => {
    pdudaemon?.kill("SIGKILL");
    testQmp?.close();
    await stopTarget(target);
  });

  it("a healthy guest: kernel alive, userspace responsive, vm running; capabilities.power lists qmp", async () => {
    const { api } = target!;
    const info = await api.get<{ capabilities: { power: { available: boolean; method?: string } } }>(
      "/ports/vm0",
    );
    assert.deepEqual(
      [info.body.capabilities.power.available, info.body.capabilities.power.method],
      [true, "qmp"],
    );
    const res = await api.post<ProbeBody>("/ports/vm0/probe", {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.kernel, res.body.userspace, res.body.vm], ["alive", "responsive", "running"]);
    assert.match(res.body.evidence.kernel.line ?? "", /HELP/);
    assert.match(res.body.evidence.userspace.tail ?? "", /# ?$/);
  });

  it("a held writer lease: userspace skipped, no CR sent", async () => {
    const { api, daemon } = target!;
    const lease = await api.post<{ leaseId: string }>("/ports/vm0/lease", {});
    assert.equal(lease.status, 200);
    const bytesBefore = daemon.ports.get("vm0").capture.size;
    try {
      const res = await api.post<ProbeBody>("/ports/vm0/probe", { probeMs: 1500 });
      assert.equal(res.status, 200);
      assert.equal(res.body.kernel, "alive");
      assert.equal(res.body.userspace, "skipped");
      assert.match(res.body.evidence.userspace.reason ?? "", /writer lease/);
    } finally {
      await fetch(`${daemon.url}/ports/vm0/lease`, {
        method: "DELETE",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ leaseId: lease.body.leaseId }),
      });
    }
    assert.ok(daemon.ports.get("vm0").capture.size > bytesBefore, "the HELP line came");
  });

  it("a bad body is a 400 that sends nothing", async () => {
    const { api } = target!;
    for (const body of [
      { action: "explode" },
      { action: "cycle", timeoutMs: 0 },
      { action: "off", extra: 1 },
      {},
    ]) {
      const res = await api.post<PowerBody>("/ports/vm0/power", body);
      assert.equal(res.status, 400, JSON.stringify(body));
    }
    const status = (await testQmp!.execute("query-status")) as { status: string };
    assert.equal(status.status, "running", "no action reached QEMU");
  });

  it("a foreground program that ignores input: the CR's echo alone is unresponsive", async () => {
    const { api, daemon } = target!;
    assert.equal((await api.post("/ports/vm0/write", { data: "sleep 4\r" })).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    const res = await api.post<ProbeBody>("/ports/vm0/probe", { probeMs: 1500 });
    assert.equal(res.status, 200);
    assert.deepEqual(
      [res.body.kernel, res.body.userspace],
      ["alive", "unresponsive"],
      JSON.stringify(res.body),
    );
    const since = daemon.ports.get("vm0").capture.lines.next;
    assert.equal((await api.post("/ports/vm0/write", { data: "echo AWAKE-$((6*7))\r" })).status, 200);
    const awake = await api.get<LogBody>(`/ports/vm0/log?since=${since}&waitMs=15000&match=%5EAWAKE-42`);
    assert.equal(awake.body.lines.length, 1, "the shell came back after sleep");
    await new Promise((r) => setTimeout(r, 300));
  });

  it("a SIGSTOPped QEMU: vm unreachable, kernel no-response", async () => {
    const { api, guest } = target!;
    process.kill(guest.pid, "SIGSTOP");
    let res;
    try {
      res = await api.post<ProbeBody>("/ports/vm0/probe", { probeMs: 1500 });
    } finally {
      process.kill(guest.pid, "SIGCONT");
    }
    assert.equal(res.status, 200);
    assert.deepEqual(
      [res.body.kernel, res.body.vm],
      ["no-response", "unreachable"],
      JSON.stringify(res.body),
    );
    assert.match(res.body.evidence.vm?.reason ?? "", /no answer within 1500 ms|no reply/);
    // The BREAK + h reach the guest once QEMU runs again: let its HELP line pass before the next case.
    await new Promise((r) => setTimeout(r, 1500));
  });

  it("a frozen VM (QMP stop through the test's own socket): kernel no-response, vm paused; cycle brings a boot banner", async () => {
    const { api, daemon } = target!;
    await testQmp!.execute("stop");
    const probe = await api.post<ProbeBody>("/ports/vm0/probe", { probeMs: 1500 });
    assert.equal(probe.status, 200);
    assert.deepEqual(
      [probe.body.kernel, probe.body.userspace, probe.body.vm],
      ["no-response", "skipped", "paused"],
    );
    const since = daemon.ports.get("vm0").capture.lines.next;
    const res = await api.post<PowerBody>("/ports/vm0/power", { action: "cycle", timeoutMs: 60_000 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.verdict, "done");
    assert.match(res.body.evidence.banner ?? "", /Linux version/);
    assert.deepEqual(res.body.evidence.steps, ["query-status", "system_reset", "cont", "query-status"]);
    const audit = await api.get<{ entries: Record<string, unknown>[] }>("/audit?port=vm0");
    const record = audit.body.entries.findLast((entry) => entry["action"] === "power");
    assert.deepEqual([record?.["power"], record?.["verdict"], record?.["status"]], ["cycle", "done", 200]);
    await bootedAgain(api, since);
    // The boot the cycle caused is our own doing, not a `reboot` incident.
    const incidents = await api.get<{ incidents: { kinds: string[] }[] }>("/incidents?port=vm0");
    assert.deepEqual(
      incidents.body.incidents.filter((incident) => incident.kinds.includes("reboot")),
      [],
      JSON.stringify(incidents.body),
    );
  });

  it("off pauses the VM (done), on brings it back with a boot banner", async () => {
    const { api, daemon } = target!;
    const off = await api.post<PowerBody>("/ports/vm0/power", { action: "off" });
    assert.equal(off.status, 200);
    assert.deepEqual([off.body.verdict, off.body.evidence.status], ["done", "paused"]);
    const since = daemon.ports.get("vm0").capture.lines.next;
    const on = await api.post<PowerBody>("/ports/vm0/power", { action: "on", timeoutMs: 60_000 });
    assert.equal(on.status, 200);
    assert.equal(on.body.verdict, "done");
    assert.match(on.body.evidence.banner ?? "", /Linux version/);
    await bootedAgain(api, since);
  });

  it("a command channel (socat to a QMP socket): done with the banner; a failing command is 502; no power is 409", async () => {
    const script = path.join(dir, "qmp-reset.sh");
    await writeFile(
      script,
      `#!/bin/sh\nprintf '{"execute":"qmp_capabilities"}\\n{"execute":"system_reset"}\\n' | socat -t 2 - UNIX-CONNECT:"$1"\necho reset sent\n`,
    );
    await chmod(script, 0o755);
    const { daemon: first, guest } = target!;
    await first.close();
    const daemon = await startTestDaemon({
      listen: true,
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: guest.telnetPort },
          power: {
            kind: "command",
            cycle: [script, path.join(dir, "script.sock")],
            reset: ["sh", "-c", "echo relay offline >&2; exit 3"],
            on: ["true"],
            timeoutMs: 10_000,
          },
        },
        { id: "bare", transport: { kind: "telnet", host: "127.0.0.1", port: 9 } },
      ],
      reloadPorts: () => reloadedPorts,
    });
    target = { ...target!, daemon, api: client(daemon.url) };
    const { api } = target;
    await new Promise((r) => setTimeout(r, 500));
    const since = daemon.ports.get("vm0").capture.lines.next;
    const res = await api.post<PowerBody>("/ports/vm0/power", { action: "cycle", timeoutMs: 60_000 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.verdict, "done");
    assert.equal(res.body.evidence.channel, "command");
    assert.equal(res.body.evidence.exitCode, 0);
    assert.match(res.body.evidence.banner ?? "", /Linux version/);
    await bootedAgain(api, since);

    const failed = await api.post<PowerBody>("/ports/vm0/power", { action: "reset" });
    assert.equal(failed.status, 502);
    assert.equal(failed.body.code, "POWER_FAILED");
    assert.match(failed.body.evidence.stderr ?? "", /relay offline/);
    assert.equal(failed.body.evidence.exitCode, 3);

    // The command ran (status 0) but nothing booted: the console, not the exit status, decides.
    const noBoot = await api.post<PowerBody>("/ports/vm0/power", { action: "on", timeoutMs: 1500 });
    assert.equal(noBoot.status, 200);
    assert.deepEqual(
      [noBoot.body.verdict, noBoot.body.evidence.exitCode, noBoot.body.evidence.banner],
      ["no-effect", 0, null],
    );

    const noAction = await api.post<PowerBody>("/ports/vm0/power", { action: "off" });
    assert.deepEqual([noAction.status, noAction.body.code], [409, "POWER_UNSUPPORTED"]);
    const none = await api.post<PowerBody>("/ports/bare/power", { action: "cycle" });
    assert.deepEqual([none.status, none.body.code], [409, "POWER_UNSUPPORTED"]);
    const info = await api.get<{ capabilities: { power: { available: boolean } } }>("/ports/bare");
    assert.equal(info.body.capabilities.power.available, false);
  });

  it(
    "the real pdudaemon (reloaded in live): a frozen guest cycles through its localcmdline driver, done from the boot banner; an unknown PDU and a pdudaemon that is down are 502",
    { skip: requireTools("pdudaemon") },
    async () => {
      // The driver runs its command and waits for it: each one talks QMP on the script socket and returns.
      const script = path.join(dir, "pdu-qmp.sh");
      const driverLog = path.join(dir, "pdu-driver.log");
      await writeFile(
        script,
        [
          "#!/bin/sh",
          "# $1: off | on, $2: the outlet (pdudaemon's %d)",
          'case "$1" in',
          '  off) cmds=\'{"execute":"stop"}\' ;;',
          '  on) cmds=\'{"execute":"system_reset"} {"execute":"cont"}\' ;;',
          "esac",
          `printf '{"execute":"qmp_capabilities"}\\n%s\\n' "$cmds" | socat -t 1 - UNIX-CONNECT:"${path.join(dir, "script.sock")}" >/dev/null`,
          `echo "$1 $2" >> "${driverLog}"`,
          "",
        ].join("\n"),
      );
      await chmod(script, 0o755);
      const pduPort = await freeTcpPort();
      const conf = path.join(dir, "pdudaemon.conf");
      await writeFile(
        conf,
        JSON.stringify({
          daemon: { hostname: "127.0.0.1", port: pduPort, listener: "http", logging_level: "DEBUG" },
          pdus: {
            rig: {
              driver: "localcmdline",
              retries: 1,
              cmd_off: `${script} off %d`,
              cmd_on: `${script} on %d`,
            },
          },
        }),
      );
      pdudaemon = spawn("pdudaemon", ["--conf", conf, "--loglevel", "DEBUG"], {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let pduLog = "";
      pdudaemon.stderr?.on("data", (chunk: Buffer) => (pduLog = (pduLog + chunk.toString()).slice(-8192)));
      await listening(pduPort, 30_000);

      const url = `http://127.0.0.1:${pduPort}`;
      const telnet = { kind: "telnet", host: "127.0.0.1", port: target!.guest.telnetPort };
      reloadedPorts = [
        {
          id: "vm0",
          transport: telnet,
          power: { kind: "pdudaemon", url, hostname: "rig", outlet: 1, delaySeconds: 1 },
        },
        {
          id: "bare",
          transport: { kind: "telnet", host: "127.0.0.1", port: 9 },
          power: { kind: "pdudaemon", url, hostname: "not-in-the-conf", outlet: 1 },
        },
      ];
      const { api, daemon } = target!;
      const reload = await api.post<{ changed?: string[] }>("/reload", {});
      assert.equal(reload.status, 200, JSON.stringify(reload.body));
      const info = await api.get<{ capabilities: { power: { method?: string; reason?: string } } }>(
        "/ports/vm0",
      );
      assert.equal(
        info.body.capabilities.power.method,
        "pdudaemon",
        "the reload applied the new power block",
      );
      assert.match(info.body.capabilities.power.reason ?? "", /PDU rig outlet 1/);
      const open = Date.now() + 10_000;
      while (daemon.ports.get("vm0").info().state !== "open") {
        assert.ok(Date.now() < open, "vm0 reopened after the reload");
        await new Promise((r) => setTimeout(r, 50));
      }

      await testQmp!.execute("stop");
      const res = await api.post<PowerBody>("/ports/vm0/power", { action: "cycle", timeoutMs: 60_000 });
      assert.equal(res.status, 200, `${JSON.stringify(res.body)}\n${pduLog}`);
      assert.equal(res.body.verdict, "done");
      assert.equal(res.body.evidence.channel, "pdudaemon");
      assert.deepEqual(res.body.evidence.steps, ["GET /power/control/reboot?hostname=rig&port=1&delay=1"]);
      assert.equal(res.body.evidence.reply, "OK - accepted request");
      assert.match(res.body.evidence.banner ?? "", /Linux version/);
      assert.equal(await readFile(driverLog, "utf8"), "off 1\non 1\n", "pdudaemon's driver ran off, then on");
      // The rest needs no shell: the guest may still be booting.

      // A PDU pdudaemon does not know: it answers 500 "Invalid request" and runs nothing.
      const unknown = await api.post<PowerBody>("/ports/bare/power", { action: "on" });
      assert.deepEqual(
        [unknown.status, unknown.body.code],
        [502, "POWER_FAILED"],
        JSON.stringify(unknown.body),
      );
      assert.equal(unknown.body.evidence.reply, "Invalid request");

      // pdudaemon down: nothing answers, nothing happens to the guest.
      const exited = new Promise((resolve) => pdudaemon!.once("exit", resolve));
      pdudaemon.kill("SIGKILL");
      await exited;
      const down = await api.post<PowerBody>("/ports/vm0/power", { action: "cycle", timeoutMs: 5000 });
      assert.deepEqual([down.status, down.body.code], [502, "POWER_FAILED"], JSON.stringify(down.body));
      assert.match(down.body.message ?? "", /ECONNREFUSED/);
      assert.equal(await readFile(driverLog, "utf8"), "off 1\non 1\n", "no driver ran");
      const status = (await testQmp!.execute("query-status")) as { status: string };
      assert.equal(status.status, "running");
    },
  );
});
