/**
 * POST /power and /probe over a fake kernel (the real guest is test/e2e/power-probe.test.ts): the
 * banner that settles a verdict may come while the command still runs, the evidence is bounded, one
 * action at a time per port, and a CR's echo is not a prompt.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

interface PowerBody {
  verdict?: string;
  code?: string;
  evidence: { banner: string | null; bannerMs?: number; output: string[]; exitCode?: number };
}

describe("power and probe over a fake kernel", { timeout: 30_000 }, () => {
  const kernel = new FakeKernel(1);
  let daemon: Daemon | undefined;
  before(async () => {
    daemon = await startTestDaemon({
      createTransport: kernel.factory,
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: 4555 },
          power: { kind: "command", cycle: ["sleep", "0.4"], on: ["true"], timeoutMs: 5000 },
          probe: { userspace: true },
        },
      ],
    });
    await waitUntil(() => daemon!.ports.get("vm0").info().state === "open", 2000, "port open");
  });
  after(() => daemon?.close());

  const post = (url: string, payload: unknown) =>
    daemon!.app.inject({ method: "POST", url, payload: payload as object });

  it("a banner printed while the command still runs settles cycle; the evidence keeps the last 50 lines", async () => {
    const console = kernel.transports.at(-1)!;
    const pending = post("/ports/vm0/power", { action: "cycle", timeoutMs: 3000 });
    setTimeout(() => {
      for (let i = 0; i < 200; i++) console.print(`[    9.${i}] old boot line ${i} ${"x".repeat(3000)}\r\n`);
      console.print("[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org)\r\n");
    }, 100);
    // A second action while the first runs is refused, and runs nothing.
    await new Promise((r) => setTimeout(r, 50));
    const busy = await post("/ports/vm0/power", { action: "on" });
    assert.deepEqual([busy.statusCode, busy.json<PowerBody>().code], [409, "POWER_BUSY"]);
    const res = await pending;
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<PowerBody>();
    assert.equal(body.verdict, "done");
    assert.match(body.evidence.banner ?? "", /^\[ {4}0\.000000\] Linux version 6\.1/);
    assert.ok((body.evidence.bannerMs ?? 0) < 400, "the banner came before the command ended");
    assert.equal(body.evidence.output.length, 50);
    assert.ok(body.evidence.output.every((line) => line.length <= 1001));
    assert.match(body.evidence.output.at(-1) ?? "", /Linux version/);
  });

  it("the command ran but no banner came: no-effect within timeoutMs", async () => {
    const started = Date.now();
    const res = await post("/ports/vm0/power", { action: "on", timeoutMs: 300 });
    assert.equal(res.statusCode, 200);
    const body = res.json<PowerBody>();
    assert.deepEqual([body.verdict, body.evidence.exitCode, body.evidence.banner], ["no-effect", 0, null]);
    assert.ok(Date.now() - started < 2000);
  });

  it("a request whose deadline passes while the command runs is 502, and the port stays busy until the command ends", async () => {
    const late = await post("/ports/vm0/power", { action: "cycle", timeoutMs: 100 });
    assert.deepEqual([late.statusCode, late.json<PowerBody>().code], [502, "POWER_FAILED"]);
    const busy = await post("/ports/vm0/power", { action: "on", timeoutMs: 100 });
    assert.deepEqual([busy.statusCode, busy.json<PowerBody>().code], [409, "POWER_BUSY"]);
    await new Promise((r) => setTimeout(r, 500));
    const free = await post("/ports/vm0/power", { action: "on", timeoutMs: 100 });
    assert.equal(free.statusCode, 200);
  });

  it("probe: the HELP header is alive; a CR's echo alone is unresponsive, a prompt after it responsive", async () => {
    const echoOnly = await post("/ports/vm0/probe", { probeMs: 300 });
    assert.equal(echoOnly.statusCode, 200);
    const first = echoOnly.json<{ kernel: string; userspace: string; vm?: string }>();
    assert.deepEqual([first.kernel, first.userspace, first.vm], ["alive", "unresponsive", undefined]);

    // A shell: a prompt after each CR it reads.
    const seen = kernel.wire.length;
    const shell = setInterval(() => {
      const cr = kernel.wire.slice(seen).some((op) => op.op === "write" && op.bytes.includes(13));
      if (cr) {
        clearInterval(shell);
        kernel.transports.at(-1)!.print("\r\n\x1b[1m/ # \x1b[0m");
      }
    }, 5);
    try {
      const res = await post("/ports/vm0/probe", { probeMs: 1000 });
      const body = res.json<{ userspace: string; evidence: { userspace: { tail?: string } } }>();
      assert.equal(body.userspace, "responsive", res.body);
      assert.equal(body.evidence.userspace.tail, "/ # ");
    } finally {
      clearInterval(shell);
    }
  });

  it("a bad probe body is a 400 and sends nothing", async () => {
    const before = kernel.wire.length;
    for (const payload of [{ probeMs: 0 }, { probeMs: "2000" }, { extra: true }]) {
      const res = await post("/ports/vm0/probe", payload);
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
    }
    assert.equal(kernel.wire.length, before);
  });
});
