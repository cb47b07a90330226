/**
 * The SSH door with Debian's real OpenSSH client against a fake kernel: keys map to tokens' roles,
 * `~B` then a key is a SysRq (a read key's `~B` is refused, said on stderr and audited), exec
 * commands carry the CLI's exit codes, the host key survives a restart, unknown keys and ports fail.
 */
import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import ssh2 from "ssh2";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel, freeTcpPort } from "../kit/index.js";
import { startFakeKernelDaemon, waitUntil } from "../helpers/daemon.js";
import {
  makeSshKey,
  sshExec,
  SshSession,
  sshTempDir,
  type SshKey,
  type SshTarget,
} from "../helpers/ssh-client.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("ssh", "ssh-keygen", "script");

describe("the SSH door (real OpenSSH client, fake kernel)", { skip, timeout: 90_000 }, () => {
  let kernel: FakeKernel;
  let daemon: Daemon & { captureDir: string };
  let dir: string;
  let operator: SshKey;
  let reader: SshKey;
  let stranger: SshKey;
  let knownHosts: string;
  let sshPort: number;

  const config = () => ({
    // A fixed port: known_hosts names the host key by host and port, and the restart must match it.
    ssh: { port: sshPort },
    auth: {
      tokens: [
        { name: "ops", role: "operate", sshKeys: [operator.line] },
        { name: "viewer", role: "read", sshKeys: [reader.line] },
      ],
    },
  });
  const as = (key: SshKey, extra: Partial<SshTarget> = {}): SshTarget => ({
    port: daemon.ssh?.port ?? 0,
    user: "vm0",
    key,
    knownHosts,
    ...extra,
  });
  const readAudit = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  before(async () => {
    dir = await sshTempDir();
    knownHosts = path.join(dir, "known_hosts");
    [operator, reader, stranger] = await Promise.all([
      makeSshKey(dir, "operator"),
      makeSshKey(dir, "reader"),
      makeSshKey(dir, "stranger"),
    ]);
    sshPort = await freeTcpPort();
    kernel = new FakeKernel();
    daemon = await startFakeKernelDaemon(kernel, { config: config() });
  });
  after(async () => {
    await daemon?.close();
  });

  it("exec: sysrq h exits 0 with the CLI's line; an unknown command exits 64 with usage on stderr", async () => {
    const ok = await sshExec(as(operator), ["sysrq", "h"]);
    assert.equal(ok.code, 0, `sysrq h: ${ok.stderr}`);
    assert.match(ok.stdout, /^h {2}acknowledged {2}HELP/m, "one line per key, as the CLI prints it");
    const bad = await sshExec(as(operator), ["reboot-now"]);
    assert.equal(bad.code, 64, "usage exit code");
    assert.match(bad.stderr, /usage: ssh PORT@BRIDGE/, "usage on stderr");
    assert.equal(bad.stdout, "", "nothing on stdout");
    const readOnly = await sshExec(as(reader), ["sysrq", "h"]);
    assert.equal(readOnly.code, 6, "a read key's sysrq is refused (the CLI's REFUSED)");
    assert.match(readOnly.stderr, /FORBIDDEN/, "the refusal names its code");
  });

  it("an unknown key, and a known key for an unknown port, fail alike", async () => {
    const unknownKey = await sshExec(as(stranger), ["log"]);
    assert.equal(unknownKey.code, 255, "ssh's own failure code");
    assert.match(unknownKey.stderr, /Permission denied \(publickey\)/, "refused by public key");
    const unknownPort = await sshExec(as(operator, { user: "vm9" }), ["log"]);
    assert.equal(unknownPort.code, 255, "ssh's own failure code");
    assert.match(unknownPort.stderr, /Permission denied \(publickey\)/, "the same refusal");
    await waitUntil(
      async () =>
        /sysrq_bridge_ssh_sessions_total\{result="auth-failed"\} 2\n/.test(
          await daemon.app.metrics.registry.metrics(),
        ),
      5000,
      "both refusals counted",
    );
  });

  it("~B then h is a SysRq for an operate key; a read key's ~B is refused, said on stderr, audited", async () => {
    const writer = new SshSession(as(operator));
    try {
      await writer.waitFor(/you hold the writer lease/, 10_000);
      const before = kernel.wire.filter((op) => op.op === "break").length;
      // Enter, then ~B a moment later, as a person types it: ssh sends a break request at once,
      // ahead of typed bytes it still holds, so "\r~B" in one write would make \r the SysRq key.
      writer.type("\r");
      await new Promise((resolve) => setTimeout(resolve, 200));
      writer.type("~B");
      await waitUntil(
        () => kernel.wire.filter((op) => op.op === "break").length > before,
        5000,
        "the BREAK on the wire",
      );
      writer.type("h");
      await writer.waitFor(/sysrq: HELP/, 5000);
      const watcher = new SshSession(as(reader));
      try {
        await watcher.waitFor(/read only \(viewer has the read role\)/, 10_000);
        const breaks = kernel.wire.filter((op) => op.op === "break").length;
        watcher.type("\r");
        await new Promise((resolve) => setTimeout(resolve, 200));
        watcher.type("~B");
        await watcher.waitFor(/BREAK refused: a BREAK needs write access/, 5000);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(
          kernel.wire.filter((op) => op.op === "break").length,
          breaks,
          "no BREAK reached the wire",
        );
      } finally {
        await watcher.stop();
      }
    } finally {
      await writer.stop();
    }
    await waitUntil(
      async () => (await readAudit()).some((e) => e.action === "export-disconnect" && e.token === "viewer"),
      5000,
      "the reader's disconnect audited",
    );
    const audit = await readAudit();
    const refused = audit.find((e) => e.action === "console-break" && e.token === "viewer");
    assert.equal(refused?.code, "FORBIDDEN", "the refused ~B is audited");
    assert.equal(refused?.via, "ssh", "as the ssh door");
    const sysrq = audit.find((e) => e.action === "console-sysrq" && e.token === "ops");
    assert.ok(sysrq, "the operator's ~B h is audited as a console SysRq");
    const metrics = await daemon.app.metrics.registry.metrics();
    assert.match(metrics, /sysrq_bridge_ssh_sessions_total\{result="console"\} 2\n/, "two console sessions");
    assert.match(metrics, /sysrq_bridge_ssh_sessions_total\{result="exec"\} [1-9]/, "the exec commands");
    const out = /sysrq_bridge_ssh_console_bytes_total\{direction="out"\} (\d+)/.exec(metrics);
    assert.ok(Number(out?.[1]) > 0, "console bytes sent are counted");
  });

  it("opens at most 4 sessions on one connection; the fifth channel is refused", async () => {
    const client = new ssh2.Client();
    await new Promise<void>((resolve, reject) => {
      client.once("ready", resolve).once("error", reject);
      void readFile(operator.file, "utf8").then((privateKey) =>
        client.connect({ host: "127.0.0.1", port: daemon.ssh?.port ?? 0, username: "vm0", privateKey }),
      );
    });
    try {
      const results: boolean[] = [];
      for (let i = 0; i < 5; i++) {
        results.push(
          await new Promise<boolean>((resolve) => client.shell(false, (err) => resolve(err === undefined))),
        );
      }
      assert.deepEqual(results, [true, true, true, true, false], "four sessions, then a refusal");
    } finally {
      client.end();
    }
  });

  it("drops a connection that does not log in within the 10 s grace", async () => {
    const socket = net.connect(daemon.ssh?.port ?? 0, "127.0.0.1");
    socket.on("error", () => undefined);
    socket.resume(); // the server's version line is read, so the end of the stream is seen
    const started = Date.now();
    const closed = await Promise.race([
      new Promise<boolean>((resolve) => socket.once("close", () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000)),
    ]);
    socket.destroy();
    assert.ok(closed, "closed by the daemon");
    assert.ok(Date.now() - started >= 9000, "not before the grace");
    const metrics = await daemon.app.metrics.registry.metrics();
    assert.match(metrics, /sysrq_bridge_ssh_sessions_total\{result="grace-expired"\} 1\n/, "counted");
  });

  it("keeps its host key across a restart: known_hosts stays valid with StrictHostKeyChecking=yes", async () => {
    const keyFile = path.join(daemon.captureDir, "ssh_host_ed25519_key");
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600, "the host key is mode 0600");
    const first = await readFile(keyFile, "utf8");
    await daemon.close();
    daemon = await startFakeKernelDaemon(kernel, { config: config(), captureDir: daemon.captureDir });
    assert.equal(await readFile(keyFile, "utf8"), first, "the same key file");
    const again = await sshExec(as(operator, { strict: "yes" }), ["log", "-n", "5"]);
    assert.equal(again.code, 0, `a known host: ${again.stderr}`);
  });
});
