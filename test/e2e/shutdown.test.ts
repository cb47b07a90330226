/**
 * Graceful shutdown of the real binary (dist/main.js) attached to a real kernel under QEMU: on SIGTERM
 * the SysRq sequence in flight finishes and is answered in full, new connections are refused, every
 * byte the guest printed is on disk, and the process exits 0; a second SIGTERM exits at once.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { READY_MARKER, freeTcpPort, startGuest, waitForFile, type Guest } from "../kit/index.js";
import { listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import { client, type SysrqBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";

/** Resolves with the connect error's code, or "connected". */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Milliseconds until the process exits, and its status. */
async function exitOf(proc: BinProcess, since: number): Promise<{ code: number | null; ms: number }> {
  const code = await proc.exited;
  return { code, ms: performance.now() - since };
}

describe(
  "SIGTERM with a SysRq sequence in flight",
  { skip: requireTools("qemu-system-x86_64", "cpio", "busybox"), timeout: 120_000 },
  () => {
    let dir: string;
    let config: string;
    let httpPort: number;
    let guest: Guest;
    let ready: Promise<void>;

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-shutdown-"));
      httpPort = await freeTcpPort();
      guest = await startGuest({ append: ["sysctl.kernel.sysrq=1"] });
      // QEMU keeps its own record whether or not anyone is attached: the shell is up once it is there.
      ready = waitForFile(guest.logfile, new RegExp(`${READY_MARKER}[^]*/ # `), 60_000);
      config = path.join(dir, "config.yaml");
      await writeFile(
        config,
        `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nlog: { level: warn }\n` +
          `ports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${guest.telnetPort} }\n`,
      );
    });
    after(() => guest?.stop());

    /** Starts the binary and waits until it is attached to the guest, whose shell is quiet by then. */
    async function startBinary(): Promise<{ proc: BinProcess; api: ReturnType<typeof client> }> {
      const proc = run(["--config", config]);
      await listening(proc, httpPort);
      const api = client(`http://127.0.0.1:${httpPort}`);
      await waitUntil(
        async () => (await api.get<{ state: string }>("/ports/vm0")).body.state === "open",
        5000,
        "attached to the guest",
      );
      await ready;
      await new Promise((r) => setTimeout(r, 500));
      return { proc, api };
    }

    it("answers the in-flight sequence in full, refuses new connections, flushes the capture, exits 0", async (ctx) => {
      const { proc, api } = await startBinary();
      const keys = "hmwhmw";
      const inFlight = api.post<SysrqBody>("/ports/vm0/sysrq", { keys, settleMs: 400 });
      await new Promise((r) => setTimeout(r, 700));
      const signalled = performance.now();
      proc.child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(await tryConnect(httpPort), "ECONNREFUSED", "no new connections once shutting down");

      const res = await inFlight;
      const answeredMs = performance.now() - signalled;
      assert.ok(answeredMs > 500, `answered ${Math.round(answeredMs)} ms after SIGTERM: it was in flight`);
      assert.equal(res.status, 200);
      assert.deepEqual(
        res.body.results.map((r) => `${r.key}:${r.verdict}`),
        [...keys].map((k) => `${k}:acknowledged`),
      );
      const { code, ms } = await exitOf(proc, signalled);
      assert.equal(code, 0, proc.output().stderr);
      assert.ok(ms < 8000, `exited ${Math.round(ms)} ms after SIGTERM`);
      ctx.diagnostic(`answered ${Math.round(answeredMs)} ms, exited ${Math.round(ms)} ms after SIGTERM`);

      // Every byte QEMU saw the guest print while the daemon was attached is in the capture file.
      const captured = await readFile(path.join(dir, "cap", "vm0.raw"));
      const logged = await readFile(guest.logfile);
      const start = logged.indexOf(captured.subarray(0, 256));
      assert.ok(start >= 0, "the capture is a stretch of QEMU's record");
      assert.ok(
        logged.subarray(start, start + captured.length).equals(captured),
        "byte for byte what QEMU recorded",
      );
      assert.equal(start + captured.length, logged.length, "nothing printed before exit is missing");
      const sysrqLines = captured.toString("latin1").match(/sysrq: /g) ?? [];
      assert.equal(sysrqLines.length, keys.length, "each key's line is on disk");
    });

    it("exits at once on a second SIGTERM during a slow shutdown", async (ctx) => {
      const { proc, api } = await startBinary();
      // Eight keys 2 s apart: a shutdown that waits for them would take over ten seconds.
      const inFlight = api
        .post<SysrqBody>("/ports/vm0/sysrq", { keys: "hhhhhhhh", settleMs: 2000 })
        .catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 500));
      proc.child.kill("SIGTERM");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(proc.child.exitCode, null, "the first SIGTERM waits for the sequence");
      const second = performance.now();
      proc.child.kill("SIGTERM");
      const { code, ms } = await exitOf(proc, second);
      assert.ok(ms < 1000, `exited ${Math.round(ms)} ms after the second SIGTERM`);
      assert.equal(code, 1, "a forced exit is not a clean one");
      ctx.diagnostic(`exited ${Math.round(ms)} ms after the second SIGTERM`);
      assert.ok((await inFlight) instanceof Error, "the cut-off request sees its connection drop");
    });

    it("answers a sequence still waiting for the kernel once the grace runs out, and exits 0", async (ctx) => {
      const { proc, api } = await startBinary();
      process.kill(guest.pid, "SIGSTOP"); // the guest freezes: its kernel will not answer
      try {
        const inFlight = api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "hm", timeoutMs: 60_000 });
        await new Promise((r) => setTimeout(r, 500));
        const signalled = performance.now();
        proc.child.kill("SIGTERM");
        const res = await inFlight;
        const answeredMs = performance.now() - signalled;
        assert.equal(res.status, 200);
        const [h, m] = res.body.results;
        assert.equal(h?.verdict, "no-response");
        assert.match(h?.reason ?? "", /disconnected/);
        assert.equal(m?.verdict, "skipped");
        const { code, ms } = await exitOf(proc, signalled);
        assert.equal(code, 0, proc.output().stderr);
        // serve.ts grants in-flight work 10 s; close-with-grace would force exit 1 at 15 s.
        assert.ok(answeredMs > 9500 && ms < 12_000, `answered at ${answeredMs} ms, exited at ${ms} ms`);
        ctx.diagnostic(`answered ${Math.round(answeredMs)} ms, exited ${Math.round(ms)} ms after SIGTERM`);
      } finally {
        process.kill(guest.pid, "SIGCONT");
      }
    });
  },
);

describe("SIGTERM while a recovery ladder's command step runs", { timeout: 60_000 }, () => {
  it("kills the step's process group and exits 0 well within the shutdown deadline", async (ctx) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-shutdown-ladder-"));
    const httpPort = await freeTcpPort();
    const nobody = await freeTcpPort(); // the port's target: nothing listens, the ladder needs none
    const config = path.join(dir, "config.yaml");
    await writeFile(
      config,
      `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nlog: { level: warn }\n` +
        `ports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${nobody} }\n` +
        "    recover: { until: E2E-READY, steps: [{ command: { argv: [sleep, '60'], timeoutMs: 120000 } }] }\n",
    );
    const proc = run(["--config", config]);
    try {
      await listening(proc, httpPort);
      const api = client(`http://127.0.0.1:${httpPort}`);
      assert.equal((await api.post("/ports/vm0/recover", {})).status, 202);
      let sleeper = 0;
      await waitUntil(
        async () => {
          sleeper = (await childrenOf(proc.child.pid!)).find((c) => c.comm === "sleep")?.pid ?? 0;
          return sleeper > 0;
        },
        5000,
        "the command step's sleep",
      );
      const signalled = performance.now();
      proc.child.kill("SIGTERM");
      const { code, ms } = await exitOf(proc, signalled);
      assert.equal(code, 0, proc.output().stderr);
      assert.ok(ms < 5000, `exited ${Math.round(ms)} ms after SIGTERM (close-with-grace allows 15 s)`);
      assert.equal(await alive(sleeper), false, `sleep ${sleeper} is gone`);
      const incident = JSON.parse(await readFile(path.join(dir, "cap", "incidents", "1.json"), "utf8")) as {
        outcome: string;
        steps: { step: string; verdict: string }[];
      };
      assert.deepEqual(
        [incident.outcome, incident.steps.map((s) => [s.step, s.verdict])],
        ["failed", [["command sleep 60", "aborted"]]],
      );
      ctx.diagnostic(`exited ${Math.round(ms)} ms after SIGTERM`);
    } finally {
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
    }
  });
});

/** The children of `pid` (from /proc), with their command names. */
async function childrenOf(pid: number): Promise<{ pid: number; comm: string }[]> {
  const out: { pid: number; comm: string }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    if (stat === "") continue;
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === pid) out.push({ pid: Number(entry), comm });
  }
  return out;
}

/** Whether `pid` still runs (a zombie or a missing entry is not running). */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  return stat !== "" && stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
}
