/**
 * The README's picocom recipe, end to end: a QEMU guest's console re-exported by the daemon over
 * telnet, `socat pty,link=<path>,rawer tcp:127.0.0.1:<port>` as the README has it, and Debian's
 * picocom on that path (itself on a pty from util-linux `script`). picocom reads and types, HTTP SysRq
 * works while it holds the writer lease, and its BREAK (`C-a C-\`, a tcsendbreak() on the pty) goes
 * nowhere: a pty has no break_ctl and socat sends nothing over TCP for it, so the `h` typed after it
 * reaches the shell as a plain character. `C-a C-x` exits picocom, and socat with it.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";
import { ESCAPE, Picocom, exited, startSocatPty } from "../helpers/picocom.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { requireTools } from "../helpers/tools.js";

// script: util-linux, gives picocom the terminal it wants.
const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "socat", "picocom", "script");

/** What the daemon's telnet export sends a client that takes the lease, before any console output. */
const OPENING = Buffer.concat([
  Buffer.from([0xff, 0xfb, 1, 0xff, 0xfb, 3, 0xff, 0xfb, 0]), // IAC WILL ECHO, SGA, BINARY
  Buffer.from("\r\n[sysrq-bridge] vm0: you hold the writer lease\r\n"),
]);

/** Bytes a process has written so far (its socket reads land in the pty as writes). */
async function bytesWritten(child: ChildProcess): Promise<number> {
  const io = await readFile(`/proc/${child.pid}/io`, "utf8");
  return Number(/^wchar: (\d+)$/m.exec(io)?.[1] ?? 0);
}

describe("picocom through a socat pty on a re-exported QEMU console", { skip, timeout: 90_000 }, () => {
  let daemon: Daemon & { captureDir: string };
  let guest: Guest;
  let dir: string;
  let link: string;
  let socat: ChildProcess | undefined;
  let picocom: Picocom | undefined;

  const capture = async (): Promise<string> =>
    (await readFile(daemon.ports.get("vm0").capture.files.raw)).toString("latin1");
  const consoleBreaks = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8").catch(() => ""))
      .trim()
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r["action"] === "console-break");

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-picocom-"));
    link = path.join(dir, "vm0");
    const guestPort = await freeTcpPort();
    daemon = await startTestDaemon({
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: guestPort },
          export: { telnet: { host: "127.0.0.1", port: 0, mode: "rw" } },
        },
      ],
    });
    guest = await startGuest({ telnetPort: guestPort, append: ["sysctl.kernel.sysrq=1"] });
    await waitUntil(async () => (await capture()).includes(READY_MARKER), 60_000, "guest ready");
    await waitUntil(async () => (await capture()).includes("/ # "), 30_000, "shell prompt");
    const relay = await startSocatPty(link, daemon.exports.address("vm0", "telnet") as number);
    socat = relay;
    await waitUntil(() => daemon.ports.get("vm0").lease.current?.via === "telnet", 5000, "socat's lease");
    // Open picocom only once socat has put the daemon's opening (telnet negotiation, greeting line)
    // into the pty, as it has when a person starts picocom after socat.
    await waitUntil(
      async () => (await bytesWritten(relay)) >= OPENING.length,
      5000,
      "the opening in the pty",
    );
    picocom = new Picocom(link);
    await picocom.waitFor(/Terminal ready\r?\n/, 5000);
  });
  after(async () => {
    await picocom?.exit();
    if (socat) {
      socat.kill("SIGTERM");
      await exited(socat);
    }
    await daemon?.close();
    await guest?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("picocom shows the guest's console and types into it; it flushed the daemon's opening", async () => {
    assert.ok(picocom);
    // picocom flushes the port's input when it opens it (TCFLSH): the IAC WILL negotiation and the
    // daemon's "[sysrq-bridge] vm0: you hold the writer lease" line, already in the pty, never show.
    assert.doesNotMatch(picocom.text, /\xff|\[sysrq-bridge\]/);
    const from = picocom.text.length;
    picocom.type("echo hi-pico$((6*7))\r");
    await picocom.waitFor(/\nhi-pico42\r?\n/, 10_000, from);
    assert.match(await capture(), /\nhi-pico42\r?\n/);
  });

  it("socat is no telnet client: a 0xFF the guest prints reaches picocom doubled", async () => {
    assert.ok(picocom);
    const from = picocom.text.length;
    picocom.type("printf 'ff<\\377>\\n'\r");
    await picocom.waitFor(/ff<\xff\xff>\r?\n/, 10_000, from);
  });

  it("while picocom holds the writer lease, HTTP SysRq works and its answer shows in picocom", async () => {
    assert.ok(picocom);
    assert.equal(daemon.ports.get("vm0").lease.current?.via, "telnet");
    const from = picocom.text.length;
    const sysrq = await daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/sysrq",
      payload: { keys: "h" },
    });
    assert.equal(sysrq.statusCode, 200, sysrq.body);
    assert.equal(sysrq.json<{ results: { verdict: string }[] }>().results[0]?.verdict, "acknowledged");
    await picocom.waitFor(/sysrq: HELP/, 10_000, from);
  });

  it("picocom's BREAK (C-a C-\\) does not reach the guest: the h after it is a plain character", async () => {
    assert.ok(picocom);
    const before = (await capture()).length;
    const breaks = (await consoleBreaks()).length;
    let from = picocom.text.length;
    picocom.type(`${ESCAPE}\x1c`);
    await picocom.waitFor(/\*\*\* break sent \*\*\*/, 5000, from);
    // Had a BREAK arrived, the kernel would take the h as a SysRq key and print sysrq: HELP.
    from = picocom.text.length;
    picocom.type("h\r");
    await picocom.waitFor(/h: not found/, 10_000, from);
    assert.doesNotMatch(picocom.text.slice(from), /sysrq:/);
    assert.doesNotMatch((await capture()).slice(before), /sysrq:/);
    assert.equal((await consoleBreaks()).length, breaks, "no console-break in the audit");
  });

  it("C-a C-x exits picocom; socat stays connected with the lease, and picocom can open it again", async () => {
    assert.ok(picocom && socat);
    const from = picocom.text.length;
    await picocom.exit();
    assert.match(picocom.text.slice(from), /Thanks for using picocom/);
    assert.equal(picocom.child.exitCode, 0);
    // socat waits on the pty master for the next opener; it closes nothing.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(socat.exitCode, null, "socat exited when picocom closed the pty");
    assert.equal(daemon.ports.get("vm0").lease.current?.via, "telnet");
    picocom = new Picocom(link);
    await picocom.waitFor(/Terminal ready\r?\n/, 5000);
    const again = picocom.text.length;
    picocom.type("echo again-$((6*7))\r");
    await picocom.waitFor(/\nagain-42\r?\n/, 10_000, again);
    await picocom.exit();
    socat.kill("SIGTERM");
    await exited(socat);
    await waitUntil(() => daemon.ports.get("vm0").lease.current === null, 5000, "the lease released");
  });
});
