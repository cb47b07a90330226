/**
 * The console re-export against a real Linux guest under QEMU, with real third-party clients:
 * busybox telnet reads and types, a raw socket sends IAC BRK + h, and pyserial's rfc2217:// opens,
 * sends BREAKs (send_break, break_condition) and a key. Each SysRq must make the kernel answer.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { BusyboxTelnet, RawClient, requirePyserial, runPyserial } from "../helpers/export-clients.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox") || requirePyserial();
const IAC_BRK = Buffer.from([0xff, 0xf3]);

describe("re-export of a QEMU guest's console", { skip, timeout: 120_000 }, () => {
  let daemon: Daemon & { captureDir: string };
  let guest: Guest;
  let telnetPort: number;
  let rfc2217Port: number;

  const capture = async (): Promise<string> =>
    (await readFile(daemon.ports.get("vm0").capture.files.raw)).toString("latin1");
  const readAudit = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const leaseFree = (): Promise<void> =>
    waitUntil(() => daemon.ports.get("vm0").lease.current === null, 3000, "the lease released");

  before(async () => {
    const guestPort = await freeTcpPort();
    daemon = await startTestDaemon({
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: guestPort },
          export: {
            telnet: { host: "127.0.0.1", port: 0 },
            rfc2217: { host: "127.0.0.1", port: 0, mode: "rw" },
          },
        },
      ],
    });
    telnetPort = daemon.exports.address("vm0", "telnet") as number;
    rfc2217Port = daemon.exports.address("vm0", "rfc2217") as number;
    guest = await startGuest({ telnetPort: guestPort, append: ["sysctl.kernel.sysrq=1"] });
    await waitUntil(async () => (await capture()).includes(READY_MARKER), 60_000, "guest ready");
    await waitUntil(async () => (await capture()).includes("/ # "), 30_000, "shell prompt");
    await new Promise((resolve) => setTimeout(resolve, 300));
  });
  after(async () => {
    await daemon?.close();
    await guest?.stop();
  });

  it("busybox telnet reads the console and types into it (its Enter reaches the guest as CR)", async () => {
    const telnet = new BusyboxTelnet(telnetPort);
    try {
      await telnet.waitFor(/you hold the writer lease/, 5000);
      telnet.type("echo tel$((40+2))\n");
      await telnet.waitFor(/\ntel42\r?\n/, 10_000);
    } finally {
      await telnet.stop();
    }
    await leaseFree();
  });

  it("a raw client's IAC BRK then h runs SysRq h; a second rw client only reads while the lease is held", async () => {
    const writer = await RawClient.connect(telnetPort);
    const reader = await RawClient.connect(telnetPort);
    try {
      await writer.waitFor(/you hold the writer lease/, 5000);
      // The server's opening: WILL ECHO, WILL SGA, WILL BINARY (clients go to character mode).
      assert.deepEqual([...writer.bytes.subarray(0, 9)], [255, 251, 1, 255, 251, 3, 255, 251, 0]);
      await reader.waitFor(/read only: the writer lease is held by anonymous \(telnet\)/, 5000);
      reader.socket.write("echo ro$((1+1))\r\n");
      const from = writer.bytes.length;
      writer.socket.write(Buffer.concat([IAC_BRK, Buffer.from("h")]));
      await writer.waitFor(/sysrq: HELP/, 10_000, from);
      await reader.waitFor(/sysrq: HELP/, 5000, from);
      assert.doesNotMatch(await capture(), /ro2/, "the read-only client's command never ran");
    } finally {
      await writer.close();
      await reader.close();
    }
    await leaseFree();
    // The door reads the kernel's verdict as HTTP SysRq does, and audits the key with it.
    await waitUntil(
      async () => (await readAudit()).some((r) => r["action"] === "console-sysrq" && r["via"] === "telnet"),
      5000,
      "the console-sysrq record",
    );
    const key = (await readAudit()).filter((r) => r["action"] === "console-sysrq").at(-1);
    assert.deepEqual([key?.["key"], key?.["sysrqAction"], key?.["verdict"]], ["h", "HELP", "acknowledged"]);
  });

  it("a client without the lease: its IAC BRK + b does not reset the guest, BRK h + text in one write sends nothing, pyserial's BREAK is refused", async () => {
    // Issue 13 item 9: a client told "read only: the writer lease is held by ..." sent IAC BRK + b and
    // the kernel printed "sysrq: Resetting"; BRK + "h" + "echo X" in one write all reached the guest.
    const writer = await RawClient.connect(telnetPort);
    const reader = await RawClient.connect(telnetPort);
    try {
      await writer.waitFor(/you hold the writer lease/, 5000);
      await reader.waitFor(/read only: the writer lease is held by anonymous \(telnet\)/, 5000);
      const before = (await capture()).length;
      const from = reader.bytes.length;
      reader.socket.write(Buffer.concat([IAC_BRK, Buffer.from("b")]));
      await reader.waitFor(/BREAK refused: a BREAK needs the writer lease/, 5000, from);
      reader.socket.write(Buffer.concat([IAC_BRK, Buffer.from("hecho X$((20+1))\r\n")]));
      const pyserial = await runPyserial(`rfc2217://127.0.0.1:${rfc2217Port}`, [
        "send_break",
        "write:h",
        "sleep:1",
      ]);
      const [brk] = pyserial.steps;
      assert.match(brk?.error ?? "", /rejected value for option 'control'/, JSON.stringify(brk));
      // The guest shows nothing of it: no sysrq line, no reset, the command never ran.
      writer.socket.write("echo alive$((6*7))\r");
      await writer.waitFor(/alive42/, 10_000);
      const after = (await capture()).slice(before);
      assert.doesNotMatch(after, /sysrq:/, after);
      assert.doesNotMatch(after, /X21/, after);
      const refused = (await readAudit()).filter(
        (r) => r["action"] === "console-break" && r["code"] === "LEASE_REQUIRED",
      );
      assert.deepEqual(
        refused.slice(-3).map((r) => [r["via"], r["status"]]),
        [
          ["telnet", 409],
          ["telnet", 409],
          ["rfc2217", 409],
        ],
      );
    } finally {
      await writer.close();
      await reader.close();
    }
    await leaseFree();
  });

  it("pyserial's rfc2217:// opens in under 1 s; send_break() and break_condition each arm SysRq for h", async (t) => {
    const helps = (await capture()).split("sysrq: HELP").length;
    const result = await runPyserial(`rfc2217://127.0.0.1:${rfc2217Port}`, [
      "send_break",
      "write:h",
      "expect:sysrq: HELP",
      "break_on",
      "break_off",
      "write:h",
      "expect:sysrq: HELP",
    ]);
    assert.ok(result.openSeconds < 1, `opened in ${result.openSeconds.toFixed(3)} s`);
    t.diagnostic(`pyserial open ${result.openSeconds.toFixed(3)} s; steps ${JSON.stringify(result.steps)}`);
    for (const step of result.steps) assert.ok(step.ok, `${step.step}: ${step.error ?? "not seen"}`);
    assert.equal((await capture()).split("sysrq: HELP").length - helps, 2, "two more HELP lines");
    // pyserial's 9600 baud, DTR and RTS were echoed, not applied, and the audit says so.
    const audit = await readAudit();
    const lineControl = audit.filter((r) => r["action"] === "line-control" && r["via"] === "rfc2217");
    assert.ok(
      lineControl.some((r) => r["setting"] === "baudrate" && r["value"] === 9600 && r["applied"] === false),
      JSON.stringify(lineControl),
    );
    assert.ok(lineControl.some((r) => r["setting"] === "dtr" && r["applied"] === false));
    assert.ok(lineControl.every((r) => r["reason"] === "allowLineControl is off for port vm0"));
    // On a QEMU telnet port each BREAK-ON is one IAC BRK (no duration there), not a held BREAK.
    const breaks = audit.filter(
      (r) => r["action"] === "console-break" && r["via"] === "rfc2217" && r["status"] === 200,
    );
    assert.deepEqual(
      breaks.map((r) => r["held"]),
      [false, false],
    );
    assert.equal(daemon.ports.get("vm0").info().line, null, "a telnet port shows no line settings");
  });

  it("a BREAK that cannot start within 2 s (queue busy) is answered BREAK-OFF, and never sent later", async () => {
    const busy = daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/sysrq",
      payload: { keys: "h", timeoutMs: 8000, settleMs: 4000 },
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const result = await runPyserial(`rfc2217://127.0.0.1:${rfc2217Port}`, ["send_break"]);
    const [step] = result.steps;
    assert.match(step?.error ?? "", /rejected value for option 'control'/, JSON.stringify(step));
    assert.ok(step !== undefined && step.seconds > 1.9 && step.seconds < 3, `answered in ${step?.seconds} s`);
    assert.equal((await busy).statusCode, 200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const breaks = (await readAudit()).filter(
      (r) => r["action"] === "console-break" && r["via"] === "rfc2217",
    );
    assert.equal(breaks.at(-1)?.["code"], "QUEUE_BUSY", "the last BREAK was refused, none sent after it");
    assert.equal(daemon.ports.get("vm0").info().state, "open");
  });
});
