/**
 * Exec ports end to end: Debian's telnet (inetutils) as the program between the daemon and a real
 * guest's telnet chardev, its BREAK `\035send brk\n` (telnet sends IAC BRK, QEMU raises a UART
 * break), then the same under a pty after a reload; beside it, programs that have no break, that
 * die, and that flood stderr. One guest (startGuest) for all.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Writable } from "node:stream";
import { READY_MARKER, startGuest, type Guest } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { client, type LogBody, type SysrqBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";
import type { Daemon } from "../../src/daemon/daemon.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "telnet");

interface PortBody {
  id: string;
  kind: string;
  target: string;
  state: string;
  reason?: string;
  capabilities: { break: { available: boolean; method?: string; reason?: string } };
}

const TELNET_CHATTER = "Trying 127.0.0.1...\nConnected to 127.0.0.1.\nEscape character is '^]'.\n";

describe("exec ports: telnet as the program, against a real guest", { skip, timeout: 240_000 }, () => {
  let guest: Guest | undefined;
  let daemon: (Daemon & { captureDir: string }) | undefined;
  let api: ReturnType<typeof client>;
  const logLines: Record<string, unknown>[] = [];
  let vm0: Record<string, unknown> = {};
  let startedAt = 0;
  let rssAtStart = 0;

  before(async () => {
    guest = await startGuest({ append: ["sysctl.kernel.sysrq=1"] });
    const telnet = ["telnet", "127.0.0.1", String(guest.telnetPort)];
    vm0 = {
      id: "vm0",
      transport: { kind: "exec", argv: telnet, break: { sequence: "\\035send brk\\n\\d" } },
    };
    const others = [
      { id: "nobrk", transport: { kind: "exec", argv: ["cat"] } },
      { id: "dies", transport: { kind: "exec", argv: ["sh", "-c", "echo started; echo going >&2; exit 3"] } },
      {
        id: "flood",
        // 40 MB in one stderr line, then 20000 short lines, then again after each restart.
        transport: {
          kind: "exec",
          argv: ["sh", "-c", "head -c 40000000 /dev/zero | tr '\\0' e >&2; seq 20000 >&2; echo flooded"],
        },
      },
    ];
    // The pino lines, parsed and kept without the long ones' bodies (bounded: the test's own memory).
    const logStream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n")) {
          if (line.length === 0) continue;
          if (logLines.length < 20_000) logLines.push(JSON.parse(line) as Record<string, unknown>);
        }
        done();
      },
    });
    startedAt = Date.now();
    daemon = await startTestDaemon({
      listen: true,
      ports: [vm0, ...others],
      reloadPorts: () => [vm0, ...others],
      logStream,
    });
    api = client(daemon.url);
    rssAtStart = process.memoryUsage().rss;
    const ready = await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    assert.equal(ready.body.lines.length, 1, "the guest's ready marker came through telnet");
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
    await sleep(300);
  });
  after(async () => {
    await daemon?.close();
    await guest?.stop();
  });

  it("shows kind exec, argv as target, the break sequence as its method", async () => {
    const ports = (await api.get<PortBody[]>("/ports")).body;
    const port = ports.find((p) => p.id === "vm0");
    assert.equal(port?.kind, "exec", "kind exec");
    assert.equal(port.target, `telnet 127.0.0.1 ${guest!.telnetPort}`, "argv joined");
    assert.equal(port.state, "open", "telnet runs");
    assert.equal(port.capabilities.break.method, "exec-sequence", "a break by sequence");
    assert.equal(
      port.capabilities.break.reason,
      "writes '\\035send brk\\n\\d' to telnet (\\d: 250 ms)",
      "the sequence shown",
    );
    const nobrk = ports.find((p) => p.id === "nobrk");
    assert.equal(nobrk?.capabilities.break.available, false, "no break without transport.break");
  });

  it("gets the kernel's verdicts for SysRq h and m through telnet's send brk", async () => {
    const res = await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "hm", timeoutMs: 5000 });
    assert.equal(res.status, 200, `sysrq answered 200: ${JSON.stringify(res.body)}`);
    assert.deepEqual(
      res.body.results.map((r) => [r.key, r.verdict, r.action]),
      [
        ["h", "acknowledged", "HELP"],
        ["m", "acknowledged", "Show Memory"],
      ],
      "the kernel acknowledged both keys",
    );
    const capture = daemon!.ports.get("vm0").capture;
    await waitUntil(
      async () => (await readFile(capture.files.raw)).length === capture.size,
      2000,
      "capture flushed",
    );
    const raw = (await readFile(capture.files.raw)).toString("latin1");
    assert.ok(
      raw.startsWith(TELNET_CHATTER),
      `telnet's three lines open the capture: ${JSON.stringify(raw.slice(0, 120))}`,
    );
    assert.ok(raw.includes("sysrq: HELP"), "the guest's answer is in the capture");
    assert.ok(
      !raw.includes("telnet>"),
      "telnet's command prompt stays in its stdio buffer, out of the capture",
    );
  });

  it("answers 409 BREAK_UNSUPPORTED on a port without a break, and sends nothing", async () => {
    const res = await api.post<{ code: string }>("/ports/nobrk/sysrq", { keys: "h" });
    assert.equal(res.status, 409, "409");
    assert.equal(res.body.code, "BREAK_UNSUPPORTED", "the stable code");
    await sleep(200);
    assert.equal(daemon!.ports.get("nobrk").capture.size, 0, "cat echoed nothing: nothing was written");
  });

  it("restarts a child that dies, with backoff, its exit code in the port state and log", async () => {
    const port = (await api.get<PortBody[]>("/ports")).body.find((p) => p.id === "dies");
    assert.match(port?.reason ?? "", /sh exited with code 3/, `the exit in the state: ${port?.reason}`);
    const starts = logLines.filter((l) => l["port"] === "dies" && l["msg"] === "program started").length;
    const uptimeS = process.uptime();
    assert.ok(starts >= 2, `restarted (${starts} starts)`);
    assert.ok(starts <= 12, `backed off: ${starts} starts in this test's run`);
    assert.ok(
      logLines.some((l) => l["port"] === "dies" && l["code"] === 3),
      `the exit code logged (after ${Math.round(uptimeS)} s)`,
    );
    assert.ok(
      logLines.some((l) => l["port"] === "dies" && l["stderr"] === "going"),
      "its stderr line is in the port's log",
    );
    const raw = await readFile(daemon!.ports.get("dies").capture.files.raw, "latin1").catch(() => "");
    assert.ok(!raw.includes("going"), "stderr never reaches the capture");
  });

  it("keeps memory bounded while a child floods stderr", async () => {
    const flood = daemon!.ports.get("flood");
    await waitUntil(() => Promise.resolve(flood.stats().reconnects >= 2), 30_000, "flood ran three times");
    const stderrLogged = logLines.filter((l) => l["port"] === "flood" && l["msg"] === "program stderr");
    assert.ok(
      stderrLogged.every((l) => String(l["stderr"]).length <= 512),
      "each logged line cut at 512 bytes",
    );
    const windows = Math.ceil((Date.now() - startedAt) / 10_000) + 1;
    assert.ok(
      stderrLogged.length <= 20 * windows,
      `at most 20 lines per 10 s logged: ${stderrLogged.length} in ${windows} windows`,
    );
    assert.ok(
      logLines.some((l) => l["port"] === "flood" && typeof l["droppedLines"] === "number"),
      "the lines not logged are counted",
    );
    // Three runs wrote 120 MB of stderr; held anywhere, the process would have grown by that much.
    const grown = process.memoryUsage().rss - rssAtStart;
    process.stderr.write(`exec flood: rss grew ${Math.round(grown / 1048576)} MiB\n`);
    assert.ok(grown < 96 * 1024 * 1024, `rss grew ${Math.round(grown / 1048576)} MiB over 120 MB of stderr`);
    const raw = await readFile(flood.capture.files.raw, "latin1").catch(() => "");
    assert.ok(!raw.includes("eeee"), "stderr never reaches the capture");
  });

  it("runs telnet on a pty after a reload: the old child is stopped, SysRq h still answered", async () => {
    const pid = (): number | undefined =>
      logLines.findLast((l) => l["port"] === "vm0" && l["msg"] === "program started")?.["pid"] as
        number | undefined;
    const before = pid();
    assert.ok(before, "the first telnet's pid is logged");
    vm0 = {
      ...vm0,
      transport: {
        ...(vm0["transport"] as object),
        pty: true,
        break: { sequence: "\\035\\dsend brk\\r\\d" },
      },
    };
    const reload = await api.post<unknown>("/reload", {});
    assert.equal(reload.status, 200, `reloaded: ${JSON.stringify(reload.body)}`);
    let alive = true;
    try {
      process.kill(before, 0);
    } catch {
      alive = false;
    }
    assert.equal(alive, false, "the pipe telnet was stopped by the reload");
    await waitUntil(
      async () => {
        const port = (await api.get<PortBody[]>("/ports")).body.find((p) => p.id === "vm0");
        return port?.state === "open";
      },
      10_000,
      "vm0 open again",
    );
    await sleep(1000);
    const res = await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h", timeoutMs: 5000 });
    assert.equal(res.status, 200, `sysrq answered 200: ${JSON.stringify(res.body)}`);
    assert.deepEqual(
      res.body.results.map((r) => [r.key, r.verdict]),
      [["h", "acknowledged"]],
      `the kernel acknowledged h through telnet on a pty: ${JSON.stringify(res.body)}`,
    );
    const capture = daemon!.ports.get("vm0").capture;
    await waitUntil(
      async () => (await readFile(capture.files.raw)).length === capture.size,
      2000,
      "capture flushed",
    );
    const raw = (await readFile(capture.files.raw)).toString("latin1");
    const sincePty = raw.slice(raw.lastIndexOf("Trying 127.0.0.1...\r\n"));
    assert.match(
      sincePty,
      /^Trying 127\.0\.0\.1\.\.\.\r\nConnected to 127\.0\.0\.1\.\r\n.*\r\ntelnet> send brk\r\n.*sysrq: HELP/s,
      `on a pty telnet's lines end in CRLF and its command prompt is echoed: ${JSON.stringify(sincePty.slice(0, 200))}`,
    );
  });
});
