/**
 * RFC 2217 modem state and listener notices, with pyserial as the client: `.cts .dsr .ri .cd` answer
 * (a NOTIFY-MODEMSTATE at connect, and pyserial's poll_modem polls are answered) for a tty port on a
 * socat pty (a pty has no modem lines: TIOCMGET fails, reported as a line that is up) and a telnet
 * port; a telnet listener with `notices: false`, and an RFC 2217 one by default, carry only the
 * target's bytes, never a `[sysrq-bridge]` greeting.
 */
import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { RawClient, requirePyserial, runPyserial } from "../helpers/export-clients.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat") || requirePyserial();
const UP = { cts: true, dsr: true, ri: false, cd: true };

describe("RFC 2217 modem state and listener notices", { skip, timeout: 60_000 }, () => {
  let pair: PtyPair;
  let target: TargetSide;
  let daemon: Daemon & { captureDir: string };
  let telnetTarget: Server;
  const targetSockets: Socket[] = [];
  let telnetPath: string;

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-modem-notices-"));
    pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
    target = new TargetSide(pair.targetSide);
    telnetTarget = createServer((s) => targetSockets.push(s.on("error", () => undefined)));
    await new Promise<void>((resolve) => telnetTarget.listen(0, "127.0.0.1", resolve));
    const telnetTargetPort = (telnetTarget.address() as { port: number }).port;
    telnetPath = path.join(dir, "pty0.telnet");
    daemon = await startTestDaemon({
      ports: [
        {
          id: "pty0",
          transport: { kind: "tty", path: pair.daemonSide, baudRate: 115200 },
          export: {
            rfc2217: { host: "127.0.0.1", port: 0 },
            telnet: { path: telnetPath, notices: false },
          },
        },
        {
          id: "tel0",
          transport: { kind: "telnet", host: "127.0.0.1", port: telnetTargetPort, mode: "standard" },
          export: { rfc2217: { host: "127.0.0.1", port: 0 } },
        },
      ],
    });
    await waitUntil(() => daemon.ports.list().every((p) => p.info().state === "open"), 5000, "ports open");
  });
  after(async () => {
    await daemon?.close();
    target?.close();
    await pair?.stop();
    for (const s of targetSockets) s.destroy();
    telnetTarget?.close();
  });

  for (const id of ["pty0", "tel0"]) {
    it(`${id}: pyserial reads CTS, DSR, CD on and RI off, from the connect NOTIFY and from its polls`, async () => {
      const at = `127.0.0.1:${daemon.exports.address(id, "rfc2217") as number}`;
      const plain = await runPyserial(`rfc2217://${at}`, ["modem"]);
      assert.deepEqual(plain.steps[0], { ...plain.steps[0], ok: true, lines: UP });
      // poll_modem: each read after 0.3 s sends a poll and waits (3 s) for the answer
      const polled = await runPyserial(`rfc2217://${at}?poll_modem`, ["modem", "sleep:0.5", "modem"]);
      for (const step of [polled.steps[0], polled.steps[2]]) {
        assert.deepEqual(step, { ...step, ok: true, lines: UP });
        assert.ok((step?.seconds ?? 99) < 2, `the poll was answered (${step?.seconds} s)`);
      }
    });
  }

  it("a telnet listener with notices: false carries only the target's bytes", async () => {
    const client = await RawClient.connect(telnetPath);
    try {
      await waitUntil(
        () => daemon.ports.get("pty0").lease.current !== null,
        5000,
        "the client holds the lease",
      );
      target.write(Buffer.from("from-the-target\r\n"));
      await client.waitFor(/from-the-target\r\n/, 5000);
      assert.doesNotMatch(client.text(), /sysrq-bridge/);
    } finally {
      await client.close();
    }
  });

  it("an RFC 2217 listener carries no greeting by default", async () => {
    const at = `127.0.0.1:${daemon.exports.address("pty0", "rfc2217") as number}`;
    const writing = setInterval(() => target.write(Buffer.from("tick\r\n")), 200);
    try {
      const run = await runPyserial(`rfc2217://${at}`, ["read:1.5"]);
      assert.match(run.steps[0]?.data ?? "", /tick/);
      assert.doesNotMatch(run.steps[0]?.data ?? "", /sysrq-bridge/);
    } finally {
      clearInterval(writing);
    }
  });
});
