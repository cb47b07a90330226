/**
 * A re-export client still connected when the real binary gets SIGTERM gets its export-disconnect
 * record before the daemon exits (issue 13 item 10): the target is one end of a socat pty pair.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { listening, run } from "../helpers/bin.js";
import { RawClient } from "../helpers/export-clients.js";
import { startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";
import { freeTcpPort } from "../target/guest.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(
  "SIGTERM with a re-export client connected",
  { skip: requireTools("socat"), timeout: 60_000 },
  () => {
    let dir: string;
    let pair: PtyPair;

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-export-shutdown-"));
      pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
    });
    after(async () => {
      await pair?.stop();
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
          `ports:\n  - id: pty0\n    transport: { kind: tty, path: ${pair.daemonSide} }\n` +
          `    export: { telnet: { host: 127.0.0.1, port: ${exportPort} } }\n`,
      );
      const proc = run(["--config", config]);
      await listening(proc, httpPort);
      const telnet = await RawClient.connect(exportPort);
      await telnet.waitFor(/you hold the writer lease/, 5000);
      telnet.socket.write("abc\r");
      await sleep(200);
      proc.child.kill("SIGTERM");
      assert.equal(await proc.exited, 0, proc.output().stderr);
      telnet.socket.destroy(); // the daemon has closed it
      const audit = (await readFile(path.join(dir, "cap", "audit.jsonl"), "utf8"))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.deepEqual(
        audit.map((r) => r["action"]),
        ["lease-take", "export-connect", "export-disconnect"],
      );
      assert.equal(audit.at(-1)?.["bytes"], 4);
    });
  },
);
