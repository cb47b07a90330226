/**
 * IPMI against a real BMC (issue 18, section 1): OpenIPMI's ipmi_sim in front of the test guest
 * (test/kit/ipmi-sim.ts), with the nmi_diag module loaded so `chassis power diag` is an NMI. One BMC
 * and guest for the file: plain ipmitool proves the kit (lanplus, SOL), then the daemon, reading the
 * guest's console through a tap in the SOL path, powers and NMIs it through the BMC. A second, bare ipmi_sim (no
 * module, no machine) answers diag 0xCC: a 409 naming the code.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon } from "../helpers/daemon.js";
import type { LogBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";
import {
  READY_MARKER,
  ensureNmiModule,
  startBmc,
  startKernelPeer,
  type Bmc,
  type KernelPeer,
} from "../kit/index.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "ipmi_sim", "ipmitool", "gcc");

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}

/** `sol activate` on the BMC: types `echo` lines until their output comes back (the first may be lost). */
async function solEcho(bmc: Bmc, marker: string, withinMs: number): Promise<string> {
  const child = spawn("ipmitool", [...bmc.ipmitoolArgs, "sol", "activate"], {
    env: bmc.env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out = (out + c.toString("latin1")).slice(-65_536)));
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const end = Date.now() + withinMs;
  try {
    while (!out.includes(`\r\n${marker}\r\n`)) {
      if (Date.now() > end)
        throw new Error(`no ${marker} over SOL within ${withinMs} ms: ${JSON.stringify(out)}`);
      child.stdin.write(`echo ${marker}\r`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    child.stdin.write("~.");
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    return out;
  } finally {
    child.kill("SIGKILL");
  }
}

const PASSWORD_ENV = "SYSRQ_TEST_IPMI_PASSWORD";

interface PowerBody {
  verdict: string;
  evidence: { channel: string; steps: string[]; banner: string | null; stdout?: string };
}
interface NmiBody {
  verdict: string;
  line: string | null;
}
interface ErrorBody {
  code: string;
  message: string;
}

function ipmiBlock(bmc: Bmc) {
  return {
    kind: "ipmi",
    host: bmc.host,
    port: bmc.lanPort,
    username: bmc.username,
    passwordEnv: PASSWORD_ENV,
    cipherSuite: 3,
  };
}

describe(
  "ipmi_sim in front of the test guest: the kit, then the daemon through it",
  { skip, timeout: 240_000 },
  () => {
    let bmc: Bmc | undefined;
    let daemon: Daemon | undefined;
    const logs: string[] = [];

    before(async () => {
      bmc = await startBmc({ loadlib: await ensureNmiModule(), consolePort: true });
      process.env[PASSWORD_ENV] = bmc.password;
      daemon = await startTestDaemon({
        ports: [
          {
            id: "vm0",
            transport: { kind: "telnet", host: "127.0.0.1", port: bmc.consoleTelnetPort },
            power: ipmiBlock(bmc),
            nmi: ipmiBlock(bmc),
          },
        ],
        logStream: { write: (line: string) => void logs.push(line) },
      });
    });

    after(async () => {
      await daemon?.close();
      await bmc?.stop();
      delete process.env[PASSWORD_ENV];
    });

    it("answers chassis power status over lanplus", async () => {
      assert.ok(bmc, "the BMC started");
      const status = await bmc.ipmitool(["chassis", "power", "status"]);
      assert.equal(status.code, 0, `ipmitool failed: ${status.stderr}`);
      assert.match(status.stdout, /Chassis Power is on/);
    });

    it("carries the guest's console over SOL", async () => {
      assert.ok(bmc, "the BMC started");
      const out = await solEcho(bmc, "sol-kit-42", 20_000);
      assert.match(out, /\[SOL Session operational/, "ipmitool opened the SOL session");
    });

    it("GET /ports shows nmi.method ipmi and the power capability", async () => {
      assert.ok(daemon, "the daemon started");
      const info = await daemon.app.inject({ method: "GET", url: "/ports/vm0" });
      const caps = info.json<{
        capabilities: {
          nmi: { available: boolean; method?: string };
          power: { method?: string; actions?: string[] };
        };
      }>().capabilities;
      assert.equal(caps.nmi.method, "ipmi");
      assert.equal(caps.nmi.available, true, "nmi available");
      assert.equal(caps.power.method, "ipmi");
      assert.deepEqual(caps.power.actions, ["on", "off", "cycle", "reset"]);
    });

    it("POST /nmi: chassis power diag through the module, acknowledged on the console", async () => {
      assert.ok(daemon, "the daemon started");
      const res = await daemon.app.inject({
        method: "POST",
        url: "/ports/vm0/nmi",
        payload: { timeoutMs: 15_000 },
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<NmiBody>();
      assert.equal(body.verdict, "acknowledged", res.body);
      assert.match(body.line ?? "", /NMI received|Dazed and confused/);
    });

    it("POST /power cycle: ipmi_sim kills QEMU and starts a new one; the verdict is the boot banner", async () => {
      assert.ok(bmc && daemon, "the BMC and the daemon started");
      const since = Date.now();
      const res = await daemon.app.inject({
        method: "POST",
        url: "/ports/vm0/power",
        payload: { action: "cycle", timeoutMs: 60_000 },
      });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<PowerBody>();
      assert.equal(body.verdict, "done", res.body);
      assert.equal(body.evidence.channel, "ipmi");
      assert.deepEqual(body.evidence.steps, ["ipmitool chassis power cycle"]);
      assert.match(body.evidence.banner ?? "", /Linux version/);
      const qemuOut = await readFile(`${bmc.dir}/qemu.out`, "utf8");
      assert.equal(count(qemuOut, "QEMU waiting for connection"), 2, "a second QEMU process started");
      const ready = await daemon.app.inject({
        method: "GET",
        url: `/ports/vm0/log?since=${since}&waitMs=60000&match=${READY_MARKER}`,
      });
      assert.equal(ready.json<LogBody>().lines.length, 1, "the new guest reached its shell");
    });

    it("the BMC password is in no log line", () => {
      assert.ok(bmc, "the BMC started");
      assert.ok(logs.length > 0, "the daemon logged");
      assert.ok(!logs.join("").includes(bmc.password), "no password in the daemon's log");
    });
  },
);

describe("a stock ipmi_sim (no module)", { skip, timeout: 60_000 }, () => {
  let bmc: Bmc | undefined;
  let peer: KernelPeer | undefined;
  let daemon: Daemon | undefined;
  before(async () => {
    bmc = await startBmc({ guest: false });
    peer = await startKernelPeer();
    process.env[PASSWORD_ENV] = bmc.password;
    daemon = await startTestDaemon({
      ports: [
        {
          id: "bare",
          transport: { kind: "telnet", host: "127.0.0.1", port: peer.port },
          nmi: ipmiBlock(bmc),
        },
      ],
    });
  });
  after(async () => {
    await daemon?.close();
    await peer?.close();
    await bmc?.stop();
    delete process.env[PASSWORD_ENV];
  });

  it("answers chassis power diag with 0xCC: POST /nmi is 409 NMI_UNSUPPORTED naming it", async () => {
    assert.ok(bmc && daemon, "the BMC and the daemon started");
    const diag = await bmc.ipmitool(["chassis", "power", "diag"]);
    assert.notEqual(diag.code, 0, "a stock ipmi_sim refuses diag");
    assert.match(diag.stderr, /Invalid data field in request/);
    const res = await daemon.app.inject({
      method: "POST",
      url: "/ports/bare/nmi",
      payload: { timeoutMs: 5000 },
    });
    assert.equal(res.statusCode, 409, res.body);
    const body = res.json<ErrorBody>();
    assert.equal(body.code, "NMI_UNSUPPORTED");
    assert.match(body.message, /0xCC/);
    assert.ok(!res.body.includes(bmc.password), "no password in the answer");
  });
});
