/**
 * The IPMI power channel and NMI method against a real ipmi_sim with no machine behind it (stock: it
 * answers chassis power diag, and power with no VM connected, 0xCC), and against a silent UDP port
 * (ipmitool keeps retrying): the password never in ipmitool's argv, deadlines and aborts kill it.
 */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { IpmiError, runIpmitool } from "../../src/control/ipmitool.js";
import { nmiMethodFor } from "../../src/control/nmi-method.js";
import { PowerChannelError } from "../../src/control/power-channel.js";
import { ipmiPowerChannel } from "../../src/control/power-ipmi.js";
import type { IpmiConfig, PortConfig } from "../../src/config/types.js";
import { requireTools } from "../helpers/tools.js";
import { freeUdpPort, startBmc, type Bmc } from "../kit/index.js";

const skip = requireTools("ipmi_sim", "ipmitool");

function config(
  bmc: Pick<Bmc, "lanPort" | "username" | "password">,
  extra: Partial<IpmiConfig> = {},
): IpmiConfig {
  return {
    kind: "ipmi",
    host: "127.0.0.1",
    port: bmc.lanPort,
    username: bmc.username,
    password: bmc.password,
    interface: "lanplus",
    cipherSuite: 3,
    timeoutMs: 15_000,
    ipmitool: "ipmitool",
    ...extra,
  };
}

/** The ipmitool processes this test process started (by /proc/<pid>/stat's ppid). */
async function ipmitoolChildren(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (stat.includes("(ipmitool)") && Number(fields[1]) === process.pid) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function waitFor<T>(probe: () => Promise<T | null>, withinMs: number, what: string): Promise<T> {
  const end = Date.now() + withinMs;
  for (;;) {
    const got = await probe();
    if (got !== null) return got;
    assert.ok(Date.now() < end, `${what} within ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("IPMI power and NMI through ipmitool", { skip, timeout: 120_000 }, () => {
  let bmc: Bmc | undefined;
  before(async () => {
    bmc = await startBmc({ guest: false });
  });
  after(async () => {
    await bmc?.stop();
  });

  it("a 0xCC to power (reset with no VM connected) is unsupported, naming the code", async () => {
    assert.ok(bmc, "the BMC started");
    const channel = ipmiPowerChannel(config(bmc));
    assert.deepEqual(channel.actions, ["on", "off", "cycle", "reset"]);
    const err = await channel.run("reset").then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof PowerChannelError, `a PowerChannelError: ${String(err)}`);
    assert.equal(err.unsupported, true, "0xCC means the BMC does not do it");
    assert.match(err.message, /completion code 0xCC/);
    assert.deepEqual(err.outcome.steps, ["ipmitool chassis power reset"]);
  });

  it("a 0xCC to chassis power diag is an unsupported NMI naming the code", async () => {
    assert.ok(bmc, "the BMC started");
    const method = nmiMethodFor({ nmi: config(bmc) } as unknown as PortConfig, null, null);
    assert.equal(method?.method, "ipmi");
    const err = await method?.inject().then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof IpmiError, `an IpmiError: ${String(err)}`);
    assert.equal(err.kind, "unsupported");
    assert.match(err.message, /0xCC \(Invalid data field in request\)/);
  });

  it("a wrong password is a failure, not unsupported, and the password is in no message", async () => {
    assert.ok(bmc, "the BMC started");
    const wrong = "not-the-bmc-password-7";
    const err = await runIpmitool(config(bmc, { password: wrong }), ["chassis", "power", "status"]).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof IpmiError, `an IpmiError: ${String(err)}`);
    assert.equal(err.kind, "failed");
    assert.doesNotMatch(JSON.stringify({ m: err.message, o: err.output }), new RegExp(wrong));
  });

  it("keeps the password out of ipmitool's argv; an abort kills it at once", async () => {
    const silent = await freeUdpPort();
    const secret = "env-only-secret-7"; // lanplus takes at most 20 bytes
    const abort = new AbortController();
    const cfg = config({ lanPort: silent, username: "admin", password: secret });
    const run = ipmiPowerChannel(cfg).run("cycle", { signal: abort.signal });
    const settled = run.then(
      () => null,
      (e: unknown) => e,
    );
    const [pid] = await waitFor(
      async () => {
        const pids = await ipmitoolChildren();
        return pids.length > 0 ? pids : null;
      },
      5000,
      "an ipmitool child",
    );
    assert.ok(pid, "an ipmitool child runs");
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0");
    assert.ok(argv.includes("-E"), `the password comes from the environment: ${argv.join(" ")}`);
    assert.ok(!argv.some((a) => a.includes(secret)), `no password in argv: ${argv.join(" ")}`);
    assert.ok(!argv.includes("-P"), "no -P");
    const environ = await readFile(`/proc/${pid}/environ`, "utf8");
    assert.ok(environ.split("\0").includes(`IPMI_PASSWORD=${secret}`), "IPMI_PASSWORD set for the child");
    const t0 = Date.now();
    abort.abort();
    const err = await settled;
    assert.ok(err instanceof PowerChannelError, `rejected: ${String(err)}`);
    assert.match(err.message, /daemon is stopping/);
    assert.ok(Date.now() - t0 < 2000, "the abort ended it at once");
    assert.deepEqual(await ipmitoolChildren(), [], "no ipmitool left running");
  });

  it("a BMC that does not answer meets the deadline", async () => {
    const silent = await freeUdpPort();
    const t0 = Date.now();
    const err = await runIpmitool(
      config({ lanPort: silent, username: "admin", password: "x" }, { timeoutMs: 800 }),
      ["chassis", "power", "status"],
    ).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof IpmiError, `an IpmiError: ${String(err)}`);
    assert.match(err.message, /no answer within 800 ms; killed/);
    assert.ok(Date.now() - t0 < 3000, "killed at the deadline");
  });
});
