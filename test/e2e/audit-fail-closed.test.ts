/**
 * The audit fails closed (issue 13 item 6): with the audit file on a real tmpfs that is full, SysRq,
 * BREAK and write answer 503 AUDIT_UNAVAILABLE and the target (the far end of a socat pty pair) gets
 * no byte; neither does a WebSocket writer's or a telnet re-export writer's typing, while both keep
 * reading the console. Once space returns, actions work again and the audit says since when it was
 * unavailable.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { RawClient } from "../helpers/export-clients.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";
import { openConsole } from "../helpers/ws.js";

/** A skip reason unless this process may mount a tmpfs (root in a VM or a privileged container). */
function requireMount(): string | false {
  if (process.getuid?.() !== 0) return "needs root to mount a tmpfs";
  return false;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(
  "audit fail-closed on a full tmpfs",
  { skip: requireTools("socat") || requireMount(), timeout: 60_000 },
  () => {
    let dir: string;
    let auditDir: string;
    let pair: PtyPair;
    let target: TargetSide;
    let daemon: Daemon;
    let telnetPort: number;
    const filler = () => path.join(auditDir, "filler");
    const post = (url: string, body: object) =>
      fetch(`${daemon.url}${url}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-audit-full-"));
      auditDir = path.join(dir, "audit");
      execFileSync("mkdir", ["-p", auditDir]);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", auditDir]);
      pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
      target = new TargetSide(pair.targetSide);
      daemon = await startTestDaemon({
        ports: [
          {
            id: "pty0",
            transport: { kind: "tty", path: pair.daemonSide, baudRate: 115200 },
            export: { telnet: { host: "127.0.0.1", port: 0 } },
          },
        ],
        listen: true,
        captureDir: dir,
        config: { audit: { file: path.join(auditDir, "audit.jsonl") } },
      });
      telnetPort = daemon.exports.address("pty0", "telnet") as number;
      await waitUntil(() => daemon.ports.get("pty0").info().state === "open", 5000, "port open");
    });
    after(async () => {
      await daemon?.close();
      target?.close();
      await pair?.stop();
      spawnSync("umount", [auditDir]);
      await rm(dir, { recursive: true, force: true });
    });

    it("refuses actions with 503 AUDIT_UNAVAILABLE and forwards no console input; recovers when space returns", async () => {
      const ws = openConsole(`${daemon.url.replace(/^http/, "ws")}/ports/pty0/console`);
      await ws.next("hello");
      ws.control({ type: "lease", action: "take" });
      await ws.next("lease", (m) => m["yours"] === true);
      const telnet = await RawClient.connect(telnetPort);
      try {
        await telnet.waitFor(/read only: the writer lease is held by anonymous \(websocket\)/, 5000);
        // Fill the tmpfs: dd stops at ENOSPC.
        spawnSync("dd", ["if=/dev/zero", `of=${filler()}`, "bs=4k"], { stdio: "ignore" });
        const before = target.bytes.length;

        for (const [url, body] of [
          ["/ports/pty0/sysrq", { keys: "h", timeoutMs: 200 }],
          ["/ports/pty0/break", {}],
          ["/ports/pty0/write", { data: "rm -rf /tmp/x\r" }],
        ] as const) {
          const res = await post(url, body);
          assert.equal(res.status, 503, url);
          const error = (await res.json()) as { code: string; message: string };
          assert.equal(error.code, "AUDIT_UNAVAILABLE", url);
          assert.match(error.message, /audit\.jsonl cannot be written: .*; nothing was sent/);
        }
        ws.input("typed while unaudited\r");
        assert.equal((await ws.next("error"))["code"], "AUDIT_UNAVAILABLE");
        await sleep(300);
        assert.equal(
          target.bytes.length,
          before,
          `no byte reached the target: ${target.bytes.subarray(before).toString("latin1")}`,
        );
        // Reading goes on: what the target prints still reaches both doors.
        target.write(Buffer.from("still printing\r\n"));
        await ws.waitForOutput("still printing");
        await telnet.waitFor(/still printing/, 5000);

        // Space returns: the next action writes the audit-resumed record, then goes ahead.
        await rm(filler());
        const res = await post("/ports/pty0/write", { data: "ls\r" });
        assert.equal(res.status, 409, "the WebSocket holds the lease: a conflict, no longer a 503");
        ws.input("after\r");
        await waitUntil(() => target.bytes.includes("after\r"), 5000, "typing reaches the target again");
        const records = (await readFile(path.join(auditDir, "audit.jsonl"), "utf8"))
          .trim()
          .split("\n")
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        assert.ok(!records.some((r) => r["action"] === "sysrq" && r["status"] === 200));
        assert.ok(!records.some((r) => r["action"] === "write" && r["status"] === 200));
      } finally {
        ws.socket.close();
        await ws.closed;
        await telnet.close();
      }
    });

    it("a failed write marks the audit unavailable until a probe record fits again", async () => {
      const audit = daemon.app.audit;
      spawnSync("dd", ["if=/dev/zero", `of=${filler()}`, "bs=1k"], { stdio: "ignore" });
      // Fill the last block's slack with records until the kernel says ENOSPC.
      let failed: unknown = null;
      for (let i = 0; i < 200 && failed === null; i++) {
        await audit
          .append({
            requestId: `fill${i}`,
            token: "t",
            client: "c",
            action: "x",
            status: 200,
            pad: "y".repeat(200),
          })
          .catch((err: unknown) => (failed = err));
      }
      assert.match(String(failed), /ENOSPC/);
      assert.match(audit.unavailable() ?? "", /ENOSPC/);
      assert.equal((await post("/ports/pty0/write", { data: "x\r" })).status, 503);
      await rm(filler());
      assert.equal(audit.unavailable(), null);
      const text = await readFile(path.join(auditDir, "audit.jsonl"), "utf8");
      const last = JSON.parse(text.trim().split("\n").at(-1) ?? "{}") as Record<string, unknown>;
      assert.equal(last["action"], "audit-resumed");
      assert.match(String(last["reason"]), /ENOSPC/);
    });
  },
);
