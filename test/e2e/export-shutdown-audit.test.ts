/**
 * A re-export client still connected when the real binary gets SIGTERM gets its export-disconnect
 * record before the daemon exits (issue 13 item 10), and so does the SysRq key it sent just before,
 * whose verdict was still pending. The target is socat echoing on a TCP port (a telnet port that
 * carries IAC BRK but has no kernel to answer).
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { listening, run } from "../helpers/bin.js";
import { RawClient } from "../helpers/export-clients.js";
import { spawn, type ChildProcess } from "node:child_process";
import { requireTools } from "../helpers/tools.js";
import { freeTcpPort } from "../kit/index.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(
  "SIGTERM with a re-export client connected",
  { skip: requireTools("socat"), timeout: 60_000 },
  () => {
    let dir: string;
    let echo: ChildProcess;
    let targetPort: number;

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-export-shutdown-"));
      targetPort = await freeTcpPort();
      echo = spawn("socat", [`TCP-LISTEN:${targetPort},bind=127.0.0.1,reuseaddr`, "EXEC:cat"], {
        stdio: "ignore",
      });
    });
    after(async () => {
      echo?.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    });

    it("closes the client's session in the audit before the daemon exits", async () => {
      // Before the fix the session had lease-take and export-connect and never export-disconnect.
      const httpPort = await freeTcpPort();
      const exportPort = await freeTcpPort();
      const config = path.join(dir, "config.yaml");
      await writeFile(
        config,
        `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nlog: { level: warn }\n` +
          `ports:\n  - id: pty0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${targetPort} }\n` +
          `    export: { telnet: { host: 127.0.0.1, port: ${exportPort} } }\n`,
      );
      const proc = run(["--config", config]);
      await listening(proc, httpPort);
      const telnet = await RawClient.connect(exportPort);
      await telnet.waitFor(/you hold the writer lease/, 5000);
      telnet.socket.write("abc\r");
      telnet.socket.write(Buffer.from([0xff, 0xf3, 0x68])); // IAC BRK h: no kernel will answer
      await sleep(300);
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exited, 0, proc.output().stderr);
      telnet.socket.destroy(); // the daemon has closed it
      const audit = (await readFile(path.join(dir, "cap", "audit.jsonl"), "utf8"))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(
        audit.map((r) => r["action"]),
        ["lease-take", "export-connect", "console-break", "console-sysrq", "export-disconnect"],
      );
      const key = audit.find((r) => r["action"] === "console-sysrq");
      assert.deepEqual([key?.["key"], key?.["verdict"]], ["h", "no-response"]);
      assert.equal(audit.at(-1)?.["bytes"], 5);
    });
  },
);
