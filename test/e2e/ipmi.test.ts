/**
 * IPMI against a real BMC (issue 18, section 1): OpenIPMI's ipmi_sim in front of the test guest
 * (test/kit/ipmi-sim.ts), with the nmi_diag module loaded so `chassis power diag` is an NMI. One BMC
 * and guest for the file; a second, bare ipmi_sim (no module, no machine) answers diag 0xCC.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { requireTools } from "../helpers/tools.js";
import { READY_MARKER, waitForFile } from "../kit/index.js";
import { ensureNmiModule } from "../kit/ipmi-nmi-module.js";
import { startBmc, type Bmc } from "../kit/ipmi-sim.js";

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

describe("ipmi_sim in front of the test guest (the kit)", { skip, timeout: 240_000 }, () => {
  let bmc: Bmc | undefined;

  before(async () => {
    bmc = await startBmc({ loadlib: await ensureNmiModule() });
  });

  after(async () => {
    await bmc?.stop();
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

  it("turns chassis power diag into an NMI with the module", async () => {
    assert.ok(bmc, "the BMC started");
    const before = count(await readFile(bmc.logfile, "latin1"), "NMI received");
    const diag = await bmc.ipmitool(["chassis", "power", "diag"]);
    assert.equal(diag.code, 0, `diag refused: ${diag.stderr}`);
    const end = Date.now() + 15_000;
    while (count(await readFile(bmc.logfile, "latin1"), "NMI received") === before) {
      assert.ok(Date.now() < end, "the guest printed no NMI line within 15 s");
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  it("power cycles the guest for real: ipmi_sim kills QEMU and starts a new one", async () => {
    assert.ok(bmc, "the BMC started");
    const text = await readFile(bmc.logfile, "latin1");
    const banners = count(text, "Linux version");
    const cycle = await bmc.ipmitool(["chassis", "power", "cycle"]);
    assert.equal(cycle.code, 0, `cycle refused: ${cycle.stderr}`);
    const end = Date.now() + 60_000;
    for (;;) {
      const now = await readFile(bmc.logfile, "latin1");
      if (count(now, "Linux version") > banners && count(now, READY_MARKER) > count(text, READY_MARKER))
        break;
      assert.ok(Date.now() < end, "no second boot within 60 s of the power cycle");
      await new Promise((r) => setTimeout(r, 250));
    }
    const qemuOut = await readFile(`${bmc.dir}/qemu.out`, "utf8");
    assert.equal(count(qemuOut, "QEMU waiting for connection"), 2, "a second QEMU process started");
    await waitForFile(bmc.logfile, READY_MARKER, 1000);
  });
});

describe("a stock ipmi_sim (no module)", { skip, timeout: 60_000 }, () => {
  let bmc: Bmc | undefined;
  before(async () => {
    bmc = await startBmc({ guest: false });
  });
  after(async () => {
    await bmc?.stop();
  });

  it("answers chassis power diag with 0xCC", async () => {
    assert.ok(bmc, "the BMC started");
    const diag = await bmc.ipmitool(["chassis", "power", "diag"]);
    assert.notEqual(diag.code, 0, "a stock ipmi_sim refuses diag");
    assert.match(diag.stderr, /Invalid data field in request/);
  });
});
