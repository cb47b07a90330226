/**
 * The SSH door of the built daemon (dist/) with Debian's OpenSSH client against a real Linux guest
 * under QEMU at kernel.sysrq=438, one guest for every case: `~B` then `h` shows the kernel's HELP
 * line, a read key's `~B` is refused and audited with nothing reaching the guest, `sysrq t` exits 2
 * and `sysrq h` 0, twenty viewers see the same bytes, and a restart keeps the host key.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../kit/index.js";
import { run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import {
  makeSshKey,
  sshExec,
  SshSession,
  sshTempDir,
  SshViewer,
  type SshKey,
  type SshTarget,
} from "../helpers/ssh-client.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox", "ssh", "ssh-keygen", "script");
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the SSH door of the built daemon on a QEMU guest", { skip, timeout: 180_000 }, () => {
  let dir: string;
  let daemon: BinProcess;
  let guest: Guest;
  let sshPort: number;
  let configFile: string;
  let knownHosts: string;
  let operator: SshKey;
  let reader: SshKey;
  let stranger: SshKey;

  const as = (key: SshKey, extra: Partial<SshTarget> = {}): SshTarget => ({
    port: sshPort,
    user: "vm0",
    key,
    knownHosts,
    ...extra,
  });
  const consoleLog = async (): Promise<string> => (await sshExec(as(operator), ["log", "-n", "400"])).stdout;
  const readAudit = async (): Promise<Record<string, unknown>[]> =>
    (await readFile(path.join(dir, "cap", "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const startDaemon = async (): Promise<BinProcess> => {
    const proc = run(["--config", configFile]);
    await waitUntil(
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`daemon exited: ${proc.output().stderr}`);
        return (await sshExec(as(operator), ["log", "-n", "1"], 5000)).code === 0;
      },
      15_000,
      "the ssh door answering",
    );
    return proc;
  };
  const stopDaemon = async (proc: BinProcess | undefined): Promise<void> => {
    if (!proc || proc.child.exitCode !== null) return;
    proc.child.kill("SIGTERM");
    await proc.exited;
  };

  before(async () => {
    dir = await sshTempDir();
    knownHosts = path.join(dir, "known_hosts");
    [operator, reader, stranger] = (await Promise.all(
      ["operator", "reader", "stranger"].map((name) => makeSshKey(dir, name)),
    )) as [SshKey, SshKey, SshKey];
    const guestPort = await freeTcpPort();
    sshPort = await freeTcpPort();
    configFile = path.join(dir, "config.yaml");
    const config = {
      listen: { host: "127.0.0.1", port: await freeTcpPort() },
      ssh: { host: "127.0.0.1", port: sshPort },
      captureDir: "./cap",
      auth: {
        tokens: [
          { name: "ops", role: "operate", sshKeys: [operator.line] },
          { name: "viewer", role: "read", sshKeys: [reader.line] },
        ],
      },
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: guestPort } }],
    };
    await writeFile(configFile, JSON.stringify(config));
    daemon = await startDaemon();
    guest = await startGuest({ telnetPort: guestPort, append: ["sysctl.kernel.sysrq=438"] });
    await waitUntil(async () => (await consoleLog()).includes(READY_MARKER), 60_000, "guest ready");
    await waitUntil(async () => /^\/ # /m.test(await consoleLog()), 30_000, "shell prompt");
    await pause(300);
  });
  after(async () => {
    await stopDaemon(daemon);
    await guest?.stop();
  });

  it("~B then h: the kernel's HELP line appears in the session", async () => {
    const ssh = new SshSession(as(operator));
    try {
      await ssh.waitFor(/you hold the writer lease/, 10_000);
      ssh.type("\r");
      await pause(300);
      ssh.type("~B");
      await pause(300);
      ssh.type("h");
      await ssh.waitFor(/sysrq: HELP : loglevel\(0-9\)/, 10_000);
    } finally {
      await ssh.stop();
    }
  });

  it("a read key's ~B is refused: said on stderr, audited, and the guest prints nothing for it", async () => {
    const before = (await consoleLog()).split("sysrq: HELP").length;
    const ssh = new SshSession(as(reader));
    try {
      await ssh.waitFor(/read only \(viewer has the read role\)/, 10_000);
      ssh.type("\r");
      await pause(300);
      ssh.type("~B");
      await ssh.waitFor(/BREAK refused: a BREAK needs write access/, 5000);
      ssh.type("h");
      await pause(1500);
    } finally {
      await ssh.stop();
    }
    assert.equal((await consoleLog()).split("sysrq: HELP").length, before, "no new HELP line from the guest");
    await waitUntil(
      async () => (await readAudit()).some((e) => e.action === "console-break" && e.token === "viewer"),
      5000,
      "the refusal audited",
    );
    const refused = (await readAudit()).find((e) => e.action === "console-break" && e.token === "viewer");
    assert.equal(refused?.code, "FORBIDDEN", "audited as forbidden");
  });

  it("ssh ... sysrq t exits 2 at kernel.sysrq=438; sysrq h exits 0", async () => {
    const t = await sshExec(as(operator), ["sysrq", "t"]);
    assert.equal(t.code, 2, `sysrq t: ${t.stdout}${t.stderr}`);
    assert.match(t.stdout, /^t {2}disabled/m, "the CLI's line");
    const h = await sshExec(as(operator), ["sysrq", "h"]);
    assert.equal(h.code, 0, `sysrq h: ${h.stdout}${h.stderr}`);
    assert.match(h.stdout, /^h {2}acknowledged/m, "the CLI's line");
  });

  it("twenty concurrent viewers see the same bytes", async () => {
    const viewers = Array.from({ length: 20 }, () => new SshViewer(as(reader)));
    const writer = new SshSession(as(operator));
    try {
      await waitUntil(
        () => viewers.every((v) => v.stderr.includes("read only")),
        20_000,
        "20 viewers greeted",
      );
      await writer.waitFor(/you hold the writer lease/, 10_000);
      writer.type("echo BEGIN$((6*7)); seq 1 300; echo END$((6*7))\r");
      const span = (bytes: Buffer): string | null => {
        const text = bytes.toString("latin1");
        const start = text.indexOf("BEGIN42");
        const end = text.indexOf("END42", start);
        return start === -1 || end === -1 ? null : text.slice(start, end + 5);
      };
      await waitUntil(
        () => viewers.every((v) => span(v.bytes) !== null),
        20_000,
        "every viewer saw the block",
      );
      const hashes = new Set(
        viewers.map((v) =>
          createHash("sha256")
            .update(span(v.bytes) ?? "", "latin1")
            .digest("hex"),
        ),
      );
      assert.equal(hashes.size, 1, "one hash for twenty viewers");
      assert.match(span(viewers[0]?.bytes ?? Buffer.alloc(0)) ?? "", /\n300\r?\n/, "the whole block");
      assert.ok(
        viewers.every((v) => !v.bytes.toString("latin1").includes("[sysrq-bridge]")),
        "no notice on stdout",
      );
    } finally {
      await writer.stop();
      await Promise.all(viewers.map((v) => v.stop()));
    }
  });

  it("a restart keeps the host key (StrictHostKeyChecking=yes passes); an unknown key is refused", async () => {
    await stopDaemon(daemon);
    daemon = await startDaemon();
    const known = await sshExec(as(operator, { strict: "yes" }), ["log", "-n", "1"]);
    assert.equal(known.code, 0, `known host after restart: ${known.stderr}`);
    const unknown = await sshExec(as(stranger, { strict: "yes" }), ["log"]);
    assert.equal(unknown.code, 255, "refused");
    assert.match(unknown.stderr, /Permission denied \(publickey\)/, "by public key");
  });

  it("refuses to start with ssh beyond loopback and no SSH keys", async () => {
    const file = path.join(dir, "open.yaml");
    const port = { id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 9 } };
    await writeFile(
      file,
      JSON.stringify({ ssh: { host: "0.0.0.0", port: 0 }, captureDir: "./cap2", ports: [port] }),
    );
    const proc = run(["--config", file]);
    const code = await Promise.race([proc.exited, pause(10_000).then(() => "timeout")]);
    if (code === "timeout") proc.child.kill("SIGKILL");
    assert.notEqual(code, 0, "it does not start");
    assert.notEqual(code, "timeout", "it exits");
    assert.match(
      proc.output().stderr + proc.output().stdout,
      /ssh\.host: 0\.0\.0\.0 is reachable/,
      "names the key",
    );
  });
});
