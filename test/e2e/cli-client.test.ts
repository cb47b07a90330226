/**
 * The client commands of the real binary (dist/main.js) against a daemon attached to real Linux
 * guests under QEMU, one per kernel.sysrq level (1, 438, 0), booted side by side. The port's own
 * sysrqMask is 1 (all keys), so the kernel decides and its verdicts become the exit status. The
 * kernel.sysrq=0 guest also has QMP and unknown_nmi_panic=1, for an NMI that panics (exit 5), and
 * then (panic=0: it stays panicked) QMP power and a recover block for the recovery commands.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { READY_MARKER, freeTcpPort } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import type { KeyResultBody, SysrqBody } from "../helpers/http.js";
import { startTarget, stopTarget, type Target } from "../helpers/qemu-target.js";
import { hasCommand, requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");
const bin = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

interface Run {
  readonly exited: Promise<number | null>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** When each stdout chunk arrived (ms since spawn) and what it was. */
  readonly chunks: { at: number; text: string }[];
  readonly write: (text: string) => void;
  readonly kill: (signal?: NodeJS.Signals) => void;
  readonly waitFor: (pattern: RegExp, stream?: "stdout" | "stderr", timeoutMs?: number) => Promise<void>;
}

/** Spawns a command line; `url` goes in SYSRQ_BRIDGE_URL (and no token from the outer environment). */
function start(command: string, args: string[], url: string | undefined, token?: string): Run {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env["SYSRQ_BRIDGE_TOKEN"];
  delete env["SYSRQ_BRIDGE_URL"];
  if (url !== undefined) env["SYSRQ_BRIDGE_URL"] = url;
  if (token !== undefined) env["SYSRQ_BRIDGE_TOKEN"] = token;
  const begun = Date.now();
  const child = spawn(command, args, { env, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const chunks: { at: number; text: string }[] = [];
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString("latin1");
    chunks.push({ at: Date.now() - begun, text: d.toString("latin1") });
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString("latin1")));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    chunks,
    write: (text) => void child.stdin.write(text),
    kill: (signal) => void child.kill(signal),
    waitFor: (pattern, stream = "stdout", timeoutMs = 10_000) =>
      waitUntil(
        () => pattern.test(stream === "stdout" ? stdout : stderr),
        timeoutMs,
        `${pattern} on ${stream}`,
      ).catch((err: Error) => {
        const tail = (text: string): string => JSON.stringify(text.slice(-400));
        throw new Error(`${err.message}; stdout: ${tail(stdout)}; stderr: ${tail(stderr)}`);
      }),
  };
}

const cliRun = (args: string[], url: string | undefined, token?: string): Run =>
  start(process.execPath, [bin, ...args], url, token);

/** Runs the CLI to its end, with stdin closed. */
async function cli(args: string[], url: string | undefined, token?: string) {
  const run = cliRun(args, url, token);
  run.write("");
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr(), chunks: run.chunks };
}

/** On a failed wait, what the guest printed last (did the typed line reach it?). */
const withConsoleTail =
  (target: Target) =>
  (err: Error): never => {
    const lines = target.daemon.ports.get("vm0").capture.lines.query(undefined, 10_000).lines.slice(-8);
    throw new Error(`${err.message}; the guest's last lines: ${JSON.stringify(lines.map((l) => l.text))}`);
  };

const guestOptions = { port: { sysrqMask: 1 } };

describe("sysrq-bridge client commands against real kernels", { skip, timeout: 240_000 }, () => {
  let full: Target | undefined;
  let debian: Target | undefined;
  let off: Target | undefined;
  before(async () => {
    // The kernel.sysrq=0 guest also has QMP for an NMI, and panics on it (its last test).
    const qmpPath = path.join(await mkdtemp(path.join(os.tmpdir(), "sysrq-cli-qmp-")), "qmp.sock");
    [full, debian, off] = await Promise.all([
      startTarget(["sysctl.kernel.sysrq=1"], [], guestOptions),
      startTarget(["sysctl.kernel.sysrq=438"], [], guestOptions),
      startTarget(
        ["sysctl.kernel.sysrq=0", "unknown_nmi_panic=1", "panic=0"],
        ["-qmp", `unix:${qmpPath},server=on,wait=off`],
        {
          reboot: true,
          port: {
            ...guestOptions.port,
            qmp: { path: qmpPath },
            nmi: { kind: "qmp" },
            power: { kind: "qmp" },
            // No automatic ladder: `recover` below starts it.
            recover: { on: [], until: READY_MARKER, untilTimeoutMs: 60_000, cooldownMs: 0, maxPerHour: 5 },
          },
        },
      ),
    ]);
  });
  after(() => Promise.all([stopTarget(full), stopTarget(debian), stopTarget(off)]));

  describe("kernel.sysrq=1", () => {
    it("send vm0 h exits 0 and prints acknowledged", async () => {
      const run = await cli(["send", "vm0", "h"], full!.daemon.url);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /^h\s+acknowledged\s+HELP \(\d+(\.\d)? ms\)$/m);
    });

    it("prints each key of a sequence as it settles, not all at the end", async () => {
      const run = await cli(["send", "vm0", "h9", "--settle-ms", "1000"], full!.daemon.url);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split("\n");
      assert.match(lines[0] ?? "", /^h\s+acknowledged/);
      assert.match(lines[1] ?? "", /^9\s+acknowledged\s+Changing Loglevel/);
      const first = run.chunks.find((c) => /^h /m.test(c.text));
      const second = run.chunks.find((c) => /^9 /m.test(c.text));
      assert.ok(
        first && second && second.at - first.at >= 500,
        `h then 9, a settle apart: ${JSON.stringify(run.chunks)}`,
      );
    });

    it("--json gives the results as one document; an unsupported key makes the status 3", async () => {
      const run = await cli(["send", "vm0", "hx", "--json", "--url", full!.daemon.url], undefined);
      assert.equal(run.code, 3, run.stderr);
      const body = JSON.parse(run.stdout) as SysrqBody;
      assert.deepEqual(
        body.results.map((r) => [r.key, r.verdict]),
        [
          ["h", "acknowledged"],
          ["x", "unsupported"],
        ],
      );
    });

    it("ports lists vm0 as open, in a table and as JSON", async () => {
      const table = await cli(["ports"], full!.daemon.url);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^PORT\s+STATE\s+KIND/m);
      assert.match(table.stdout, /^vm0\s+open\s+telnet\s+127\.0\.0\.1:\d+\s+break\s+-\s+-\s+0$/m);
      const json = await cli(["ports", "--json"], full!.daemon.url);
      const ports = JSON.parse(json.stdout) as { id: string; state: string }[];
      assert.deepEqual(
        ports.map((p) => [p.id, p.state]),
        [["vm0", "open"]],
      );
    });

    it("write types a command, and log -f, already following, sees what the shell answered", async () => {
      const follower = cliRun(["log", "vm0", "-f", "-n", "1"], full!.daemon.url);
      try {
        await follower.waitFor(/\n/); // the last line printed: it is following now
        const text = "echo cli-w$((6*7))";
        const written = await cli(["write", "vm0", text, "--enter"], full!.daemon.url);
        assert.equal(written.code, 0, written.stderr);
        assert.equal(written.stdout, `${text.length + 1} bytes written to vm0\n`);
        await follower.waitFor(/^cli-w42\r?$/m);
      } finally {
        follower.kill("SIGTERM");
      }
      assert.equal(await follower.exited, 0);
    });

    it("log --json prints one JSON line per console line", async () => {
      const run = await cli(["log", "vm0", "-n", "5", "--json"], full!.daemon.url);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { seq: number; text: string });
      assert.equal(lines.length, 5);
      assert.ok(lines.every((l, i) => i === 0 || l.seq > lines[i - 1]!.seq));
      assert.ok(lines.some((l) => l.text === "cli-w42"));
    });

    it("console over a pipe: types echo hi, sees hi; ~B then h is SysRq h; ~. leaves and frees the lease", async () => {
      const run = cliRun(["console", "vm0"], full!.daemon.url);
      await run.waitFor(/you hold the writer lease/, "stderr");
      run.write("echo hi\r");
      await run.waitFor(/\nhi\r\n/, "stdout", 20_000).catch(withConsoleTail(full!));
      run.write("~Bh");
      await run.waitFor(/sysrq: HELP/, "stdout", 20_000).catch(withConsoleTail(full!));
      run.write("\r~.");
      assert.equal(await run.exited, 0, run.stderr());
      await waitUntil(() => full!.daemon.ports.get("vm0").lease.current === null, 3000, "lease released");
    });

    it(
      "console on a real terminal (script -qefc): raw mode, echo hi, ~. leaves",
      { skip: hasCommand("script") ? false : "util-linux script is missing" },
      async () => {
        const command = `${process.execPath} ${bin} console vm0`;
        const run = start("script", ["-qefc", command, "/dev/null"], full!.daemon.url);
        await run.waitFor(/you hold the writer lease/);
        run.write("echo hi$((40+2))\r");
        await run.waitFor(/\nhi42\r*\n/, "stdout", 20_000).catch(withConsoleTail(full!));
        run.write("~.");
        assert.equal(await run.exited, 0, run.stdout());
        // Raw mode: the terminal did not echo our keys itself, so the typed line shows once (the guest's echo).
        assert.equal(run.stdout().split("echo hi$((40+2))").length - 1, 1, run.stdout());
      },
    );

    it("break arms the port; the next send uses that BREAK", async () => {
      const sent = await cli(["break", "vm0"], full!.daemon.url);
      assert.equal(sent.code, 0, sent.stderr);
      assert.match(sent.stdout, /^BREAK sent on vm0 via (telnet-brk|qmp-chardev-send-break)$/m);
      const run = await cli(["send", "vm0", "h", "--json"], full!.daemon.url);
      assert.equal(run.code, 0, run.stderr);
      const [h] = (JSON.parse(run.stdout) as SysrqBody).results;
      assert.match(h?.note ?? "", /no new BREAK/);
    });

    it("refusals (4xx) exit 6: unknown port, bad key, NMI on a port without a control channel", async () => {
      const url = full!.daemon.url;
      const unknown = await cli(["send", "vm9", "h"], url);
      assert.equal(unknown.code, 6);
      assert.match(unknown.stderr, /PORT_NOT_FOUND/);
      const badKey = await cli(["send", "vm0", "h!", "--json"], url);
      assert.equal(badKey.code, 6);
      const error = (JSON.parse(badKey.stdout) as { error: { status: number; code: string } }).error;
      assert.equal(error.status, 400);
      const nmi = await cli(["nmi", "vm0"], url);
      assert.equal(nmi.code, 6);
      assert.match(nmi.stderr, /NMI_UNSUPPORTED/);
      const attach = await cli(["console", "vm9"], url);
      assert.equal(attach.code, 6);
      assert.match(attach.stderr, /refused \(404\)/);
    });
  });

  describe("kernel.sysrq=438", () => {
    it("send vm0 m exits 2: the kernel disabled it (the port's sysrqMask 1 lets it through)", async () => {
      const run = await cli(["send", "vm0", "m"], debian!.daemon.url);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stdout, /^m\s+disabled/m);
      assert.match(run.stdout, /kernel\.sysrq lacks 8/);
    });

    it("the worst verdict wins: s acknowledged and m disabled exit 2", async () => {
      const run = await cli(["send", "vm0", "sm", "--json"], debian!.daemon.url);
      assert.equal(run.code, 2, run.stderr);
      const verdicts = (JSON.parse(run.stdout) as SysrqBody).results.map((r: KeyResultBody) => r.verdict);
      assert.deepEqual(verdicts, ["acknowledged", "disabled"]);
    });
  });

  describe("kernel.sysrq=0", () => {
    it("send exits 4: the kernel gives no response and the rest is skipped", async () => {
      const run = await cli(["send", "vm0", "sm", "--timeout-ms", "1500", "--json"], off!.daemon.url);
      const verdicts = (JSON.parse(run.stdout) as SysrqBody).results.map((r) => r.verdict);
      assert.deepEqual(verdicts, ["no-response", "skipped"]);
      assert.equal(run.code, 4);
    });

    it("nmi exits 5 when the kernel panics on it (unknown_nmi_panic=1)", async () => {
      const run = await cli(["nmi", "vm0", "--timeout-ms", "5000"], off!.daemon.url);
      assert.equal(run.code, 5, run.stderr);
      assert.match(run.stdout, /^NMI {2}panic/m);
      assert.match(run.stdout, /Kernel panic - not syncing: NMI/);
    });

    it("incidents lists the panic; incident prints its report", async () => {
      const list = await cli(["incidents", "vm0", "--json"], off!.daemon.url);
      assert.equal(list.code, 0, list.stderr);
      const panic = list.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { id: string; kinds: string[] })
        .find((incident) => incident.kinds.includes("panic"));
      assert.ok(panic, list.stdout);
      const human = await cli(["incidents"], off!.daemon.url);
      assert.match(human.stdout, new RegExp(`^${panic.id} {2}vm0 {2}\\S*panic`, "m"));
      assert.match(human.stderr, /^next: --since \d+$/m);
      const one = await cli(["incident", panic.id], off!.daemon.url);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /^report:$/m);
      assert.match(one.stdout, /Kernel panic - not syncing: NMI/);
    });

    it("probe exits 4: the panicked kernel does not answer, the VM runs", async () => {
      const run = await cli(["probe", "vm0", "--probe-ms", "1500"], off!.daemon.url);
      assert.equal(run.code, 4, run.stderr);
      assert.match(run.stdout, /^vm0: kernel no-response, userspace skipped, vm running$/m);
    });

    it("recover prints each step as it ends and exits 0 once the ready line is back", async () => {
      const run = await cli(["recover", "vm0"], off!.daemon.url);
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.match(run.stdout, /^vm0: recovery started, incident \d+$/m);
      assert.match(run.stdout, /^ {3}power cycle {2}done/m);
      assert.match(run.stdout, /^vm0: recovered; sysrq-bridge incident \d+$/m);
    });

    it("power off and on exit 0 with the verdict; an unknown action is a usage error (64)", async () => {
      const off_ = await cli(["power", "vm0", "off"], off!.daemon.url);
      assert.equal(off_.code, 0, off_.stderr);
      assert.match(off_.stdout, /^vm0: power off done via qmp/m);
      const on = await cli(["power", "vm0", "on", "--json"], off!.daemon.url);
      assert.equal(on.code, 0, on.stderr);
      const body = JSON.parse(on.stdout) as { verdict: string; evidence: { banner: string | null } };
      assert.equal(body.verdict, "done");
      assert.match(body.evidence.banner ?? "", /Linux version/);
      assert.equal((await cli(["power", "vm0", "explode"], off!.daemon.url)).code, 64);
    });

    it("quarantine clear on a port that is not quarantined says so and exits 0", async () => {
      const run = await cli(["quarantine", "clear", "vm0"], off!.daemon.url);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout.trim(), "vm0: was not quarantined; health good");
    });
  });

  it("a daemon that is not running exits 7, for requests and for the console", async () => {
    const url = `http://127.0.0.1:${await freeTcpPort()}`;
    const send = await cli(["send", "vm0", "h", "--json"], url);
    assert.equal(send.code, 7);
    assert.equal((JSON.parse(send.stdout) as { error: { code: string } }).error.code, "CONNECT");
    const attach = await cli(["console", "vm0"], url);
    assert.equal(attach.code, 7);
    assert.match(attach.stderr, /ECONNREFUSED/);
  });
});

describe("sysrq-bridge client commands with tokens, against a port whose target is down", () => {
  const TOKEN = "cli-test-token-0123456789";
  let daemon: Daemon | undefined;
  before(async () => {
    daemon = await startTestDaemon({
      listen: true,
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: await freeTcpPort() } }],
      config: { auth: { tokens: [{ name: "ops", role: "operate", sha256: sha256(TOKEN).toString("hex") }] } },
    });
  });
  after(() => daemon?.close());

  it("sends the token from --token or SYSRQ_BRIDGE_TOKEN; without one the daemon refuses (6)", async () => {
    const url = daemon!.url;
    const refused = await cli(["ports"], url);
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /UNAUTHORIZED/);
    assert.equal((await cli(["ports", "--token", TOKEN], url)).code, 0);
    const fromEnv = await cli(["ports", "--json"], url, TOKEN);
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.deepEqual(
      (JSON.parse(fromEnv.stdout) as { id: string; state: string }[]).map((p) => [p.id, p.state]),
      [["vm0", "connecting"]],
    );
  });

  it("a port that is down is a 5xx: exit 7", async () => {
    const run = await cli(["send", "vm0", "h"], daemon!.url, TOKEN);
    assert.equal(run.code, 7);
    assert.match(run.stderr, /PORT_UNAVAILABLE/);
  });

  it("console: the Authorization header opens it; without a token the daemon closes it with 4401 (6)", async () => {
    const refused = await cli(["console", "vm0"], daemon!.url);
    assert.equal(refused.code, 6);
    assert.match(refused.stderr, /4401/);
    const run = cliRun(["console", "vm0"], daemon!.url, TOKEN);
    await run.waitFor(/connected to vm0 as ops \(operate\)/, "stderr");
    await run.waitFor(/you hold the writer lease/, "stderr");
    run.write("~.");
    assert.equal(await run.exited, 0, run.stderr());
  });
});

describe("sysrq-bridge lease, capture, audit, keys, console roles and log escapes, against a telnet peer", () => {
  const READ = "cli-read-token-0123456789";
  const OPERATE = "cli-operate-token-0123456789";
  const ADMIN = "cli-admin-token-0123456789";
  /** What the peer prints: a shell prompt with the cursor query busybox sends, and a kernel HELP line. */
  const PRINTED =
    "boot ok\r\n/ # \x1b[6nls\r\n[    3.1] sysrq: HELP : loglevel(0-9) reboot(b) crash(c) show-memory-usage(m) \r\n";
  let daemon: Daemon | undefined;
  let peer: net.Server | undefined;
  const hash = (token: string) => sha256(token).toString("hex");
  before(async () => {
    peer = net.createServer((socket) => {
      socket.on("error", () => undefined);
      socket.write(PRINTED);
    });
    await new Promise<void>((resolve) => peer!.listen(0, "127.0.0.1", resolve));
    const peerPort = (peer.address() as net.AddressInfo).port;
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-cli-audit-"));
    daemon = await startTestDaemon({
      listen: true,
      ports: [
        { id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: peerPort, mode: "standard" } },
      ],
      config: {
        audit: { file: path.join(dir, "audit.jsonl") },
        auth: {
          tokens: [
            { name: "reader", role: "read", sha256: hash(READ) },
            { name: "ops", role: "operate", sha256: hash(OPERATE) },
            { name: "boss", role: "admin", sha256: hash(ADMIN) },
          ],
        },
      },
    });
    await waitUntil(
      () =>
        daemon!.ports
          .get("vm0")
          .capture.lines.query(undefined, 100)
          .lines.some((l) => l.text.includes("HELP")),
      10_000,
      "the peer's lines in the log",
    );
  });
  after(async () => {
    await daemon?.close();
    peer?.close();
  });

  it("an unknown command exits 64 (usage), not 2 (disabled)", async () => {
    const run = await cli(["sned", "vm0", "h"], daemon!.url, OPERATE);
    assert.equal(run.code, 64, run.stderr);
    assert.match(run.stderr, /unknown command "sned"/);
  });

  it("log on a terminal shows the target's ESC as ^[ (no cursor query reaches the terminal); --raw and a pipe keep it", async () => {
    const command = (extra: string) => `${process.execPath} ${bin} log vm0 -n 5 ${extra}`;
    const shown = start("script", ["-qefc", command(""), "/dev/null"], daemon!.url, OPERATE);
    assert.equal(await shown.exited, 0, shown.stdout());
    assert.match(shown.stdout(), /\/ # \^\[\[6nls/);
    assert.ok(!shown.stdout().includes("\x1b"), JSON.stringify(shown.stdout()));
    const raw = start("script", ["-qefc", command("--raw"), "/dev/null"], daemon!.url, OPERATE);
    assert.equal(await raw.exited, 0);
    assert.ok(raw.stdout().includes("/ # \x1b[6nls"), JSON.stringify(raw.stdout()));
    const piped = await cli(["log", "vm0", "-n", "5"], daemon!.url, OPERATE);
    assert.ok(piped.stdout.includes("/ # \x1b[6nls"), "a pipe gets the bytes as printed");
  });

  it("a read token typing in console exits 6 (FORBIDDEN); watching alone exits 0", async () => {
    const typing = cliRun(["console", "vm0"], daemon!.url, READ);
    await typing.waitFor(/connected to vm0 as reader \(read\)/, "stderr");
    typing.write("echo hi\r");
    await typing.waitFor(/FORBIDDEN/, "stderr");
    typing.write("~.");
    assert.equal(await typing.exited, 6, typing.stderr());
    const watching = cliRun(["console", "vm0"], daemon!.url, READ);
    await watching.waitFor(/connected to vm0 as reader/, "stderr");
    watching.write("~.");
    assert.equal(await watching.exited, 0, watching.stderr());
  });

  it("lease take, show and release over HTTP; a read token is refused (6)", async () => {
    const url = daemon!.url;
    const taken = await cli(["lease", "take", "vm0", "--ttl-ms", "30000", "--json"], url, OPERATE);
    assert.equal(taken.code, 0, taken.stderr);
    const { leaseId, holder } = JSON.parse(taken.stdout) as { leaseId: string; holder: string };
    assert.equal(holder, "ops");
    const shown = await cli(["lease", "show", "vm0"], url, READ);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^vm0: writer lease held by ops \(http\) until \d{4}-/);
    assert.equal((await cli(["lease", "take", "vm0"], url, READ)).code, 6);
    const released = await cli(["lease", "release", "vm0", leaseId], url, OPERATE);
    assert.equal(released.code, 0, released.stderr);
    assert.match(released.stdout, /writer lease released/);
    assert.equal(daemon!.ports.get("vm0").lease.current, null);
    assert.match((await cli(["lease", "show", "vm0"], url, READ)).stdout, /writer lease free/);
  });

  it("capture writes the raw bytes to stdout, from --offset for --length", async () => {
    const all = await cli(["capture", "vm0"], daemon!.url, READ);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, PRINTED);
    assert.match(all.stderr, new RegExp(`^vm0: bytes 0-${PRINTED.length} of 0-${PRINTED.length} kept`));
    const part = await cli(["capture", "vm0", "--offset", "2", "--length", "5"], daemon!.url, READ);
    assert.equal(part.stdout, PRINTED.slice(2, 7));
    const past = await cli(["capture", "vm0", "--offset", "999999"], daemon!.url, READ);
    assert.equal(past.code, 6);
    assert.match(past.stderr, /CAPTURE_OFFSET_PAST_END/);
  });

  it("audit lists the requests for an admin (the lease taken above among them); others get 6", async () => {
    const run = await cli(["audit", "--port", "vm0"], daemon!.url, ADMIN);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^\d+ {2}\S+ {2}ops {2}\S+ {2}lease-take {2}vm0 {2}200$/m);
    assert.match(run.stderr, /^next: --since \d+$/m);
    const json = await cli(["audit", "--json", "--limit", "1"], daemon!.url, ADMIN);
    assert.equal((JSON.parse(json.stdout) as { entries: unknown[] }).entries.length, 1);
    assert.equal((await cli(["audit"], daemon!.url, OPERATE)).code, 6);
  });

  it("keys lists the table, the role each key needs and which keys the kernel's HELP line offered", async () => {
    const run = await cli(["keys", "vm0"], daemon!.url, READ);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^KEY\s+ACTION\s+GROUP\s+ROLE\s+BIT\s+OFFERED$/m);
    assert.match(run.stdout, /^b\s+Resetting\s+destructive\s+admin\s+128\s+yes$/m);
    assert.match(run.stdout, /^s\s+Emergency Sync\s+harmless\s+operate\s+16\s+no$/m);
    assert.match(run.stdout, /OFFERED: from the kernel's last HELP line \(0123456789bchm\)/);
    const json = JSON.parse((await cli(["keys", "vm0", "--json"], daemon!.url, READ)).stdout) as {
      offered: string;
    };
    assert.equal(json.offered, "0123456789bchm");
  });
});
