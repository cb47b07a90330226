/** The `sysrq-bridge` command itself: config errors stop it with the key named; SIGTERM closes it cleanly. */
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { freeTcpPort } from "../kit/index.js";
import { run } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";

describe("sysrq-bridge command", () => {
  it("refuses a config with an unknown key, naming it, with exit status 78", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-cli-"));
    const file = path.join(dir, "bad.yaml");
    await writeFile(
      file,
      "ports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: 1, colour: red }\n",
    );
    const proc = run(["--config", file]);
    assert.equal(await proc.exited, 78);
    assert.match(proc.output().stderr, /ports\.0\.transport\.colour: unknown key/);
  });

  it("serves, captures what a telnet peer prints, and on SIGTERM flushes the capture and exits 0", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-cli-"));
    const peer = net.createServer((socket) => socket.end("hello from the peer\r\n"));
    await new Promise<void>((resolve) => peer.listen(0, "127.0.0.1", resolve));
    const peerPort = (peer.address() as net.AddressInfo).port;
    const httpPort = await freeTcpPort();
    const file = path.join(dir, "config.yaml");
    await writeFile(
      file,
      `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${peerPort}, mode: standard }\n`,
    );
    const proc = run(["--config", file]);
    try {
      await waitUntil(
        () =>
          fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
            (r) => r.ok,
            () => false,
          ),
        10_000,
        "daemon listening",
      );
      const log = await fetch(`http://127.0.0.1:${httpPort}/ports/vm0/log?since=0&waitMs=5000&match=hello`);
      assert.equal(
        ((await log.json()) as { lines: { text: string }[] }).lines[0]?.text,
        "hello from the peer",
      );
    } finally {
      proc.child.kill("SIGTERM");
      peer.close();
    }
    assert.equal(await proc.exited, 0);
    const raw = await readFile(path.join(dir, "cap", "vm0.raw"), "latin1");
    assert.ok(raw.startsWith("hello from the peer\r\n"));
    assert.match(proc.output().stdout, /sysrq-bridge listening/);
  });
});
