/**
 * The built daemon at start: a taken HTTP port or a read-only captureDir ends it at once with one
 * line and a non-zero status, having released what it opened; a low RLIMIT_NOFILE lowers the
 * connection cap (or refuses to start) so that, with every connection taken, the port still reconnects.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { freeTcpPort } from "../kit/index.js";
import { bin, listening, run } from "../helpers/bin.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { closedBy, connectFrom, startSilentTarget, type SilentTarget } from "../helpers/hostile.js";
import { requireTools } from "../helpers/tools.js";

/** stderr of a daemon that must exit by itself within `ms`. */
async function failsFast(args: string[], ms = 5000): Promise<{ code: number | null; stderr: string }> {
  const proc = run(args);
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), ms);
  const code = await proc.exited;
  clearTimeout(timer);
  return { code, stderr: proc.output().stderr };
}

async function portState(httpPort: number): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/ports/vm0`).catch(() => null);
  return res?.ok ? ((await res.json()) as { state: string }).state : undefined;
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line, not a stack trace: ${stderr}`);
  assert.match(lines[0] ?? "", pattern);
}

describe("start-up failures and the open-files limit", { timeout: 90_000 }, () => {
  let dir: string;
  let target: SilentTarget;
  const mounts: string[] = [];

  const configFile = async (
    name: string,
    httpPort: number,
    captureDir = `./cap-${name}`,
  ): Promise<string> => {
    const file = path.join(dir, `${name}.yaml`);
    await writeFile(
      file,
      `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ${captureDir}\nlog: { level: warn }\n` +
        `ports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${target.port} }\n`,
    );
    return file;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-start-"));
    target = await startSilentTarget();
  });
  after(async () => {
    for (const mount of mounts) execFileSync("umount", [mount]);
    await target.close();
  });

  it("a taken HTTP port: one line naming the address, a non-zero exit within seconds", async () => {
    const taken = net.createServer();
    const port = await freeTcpPort();
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve));
    try {
      const started = performance.now();
      const { code, stderr } = await failsFast(["--config", await configFile("inuse", port)]);
      assert.notEqual(code, 0);
      assert.ok(code !== null, "exited by itself, not killed");
      assert.ok(performance.now() - started < 5000);
      assertOneLine(stderr, new RegExp(`cannot start: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    } finally {
      taken.close();
    }
  });

  it("in-process, the failed start has closed the port's connection and its re-export listener", async () => {
    const taken = net.createServer();
    const port = await freeTcpPort();
    const exportPort = await freeTcpPort();
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", resolve));
    const before = target.accepted();
    try {
      await assert.rejects(
        startTestDaemon({
          ports: [
            {
              id: "vm0",
              transport: { kind: "telnet", host: "127.0.0.1", port: target.port },
              export: { telnet: { host: "127.0.0.1", port: exportPort } },
            },
          ],
          listen: true,
          config: { listen: { host: "127.0.0.1", port } },
        }),
        /EADDRINUSE/,
      );
      // The port had attached (or was attaching); it is let go.
      await waitUntil(
        () => target.accepted() > before && target.sockets.size === 0,
        3000,
        "the port released",
      );
      const probe = await connectFrom(exportPort).catch((err: NodeJS.ErrnoException) => err.code);
      assert.equal(probe, "ECONNREFUSED", "the re-export listener is closed");
    } finally {
      taken.close();
    }
  });

  it("a read-only captureDir: one line, exit 78", { skip: requireTools("mount", "umount") }, async () => {
    const ro = path.join(dir, "ro");
    await mkdir(path.join(ro), { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", ro]);
    mounts.push(ro);
    await mkdir(path.join(ro, "cap"));
    execFileSync("mount", ["-o", "remount,ro", ro]);
    const file = await configFile("ro", await freeTcpPort(), `${ro}/cap`);
    const { code, stderr } = await failsFast(["--config", file]);
    assert.equal(code, 78);
    assertOneLine(stderr, /cannot start: captureDir .*\/ro\/cap is not writable \(EROFS\)/);
  });

  it(
    "RLIMIT_NOFILE too low for the ports' reserve: refuses to start, one line",
    { skip: requireTools("prlimit") },
    async () => {
      const proc = spawn(
        "prlimit",
        ["--nofile=60:60", process.execPath, bin, "--config", await configFile("low", await freeTcpPort())],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stderr = "";
      proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => proc.once("exit", resolve));
      assert.equal(code, 78);
      assertOneLine(stderr, /cannot start: the open-files limit \(RLIMIT_NOFILE 60\) is too low/);
    },
  );

  it(
    "RLIMIT_NOFILE 120: connections capped below it, and with all of them taken the port reconnects",
    { skip: requireTools("prlimit") },
    async () => {
      const httpPort = await freeTcpPort();
      const proc = spawn(
        "prlimit",
        ["--nofile=120:120", process.execPath, bin, "--config", await configFile("cap", httpPort)],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<number | null>((resolve) => proc.once("exit", resolve));
      try {
        await listening({ child: proc, exited, output: () => ({ stdout, stderr: "" }) }, httpPort);
        const warning = /"maxConnections":(\d+)/.exec(stdout);
        assert.ok(warning, `the lowered cap is logged: ${stdout}`);
        const cap = Number(warning[1]);
        assert.ok(cap >= 16 && cap < 120 - 64, `cap ${cap}`);
        await new Promise((resolve) => setTimeout(resolve, 5500)); // the start-up check's keep-alive connection ends
        // Half-open connections from many addresses (under the per-address cap), more than the total cap.
        const attackers = await Promise.all(
          Array.from({ length: cap + 10 }, (_, i) => connectFrom(httpPort, `127.0.1.${i + 1}`)),
        );
        for (const socket of attackers) socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: ");
        const refused = await Promise.all(attackers.map((s) => closedBy(s, 1000)));
        assert.equal(refused.filter((r) => r.closed).length, 10, "the ones over the total cap are refused");
        // Every connection is taken: the target drops the port, and the port still reconnects.
        const accepted = target.accepted();
        target.dropAll();
        await waitUntil(() => target.accepted() > accepted, 5000, "the port reconnected");
        for (const socket of attackers) socket.destroy();
        await waitUntil(
          async () => (await portState(httpPort)) === "open",
          5000,
          "the port open again, /ports answering",
        );
        assert.doesNotMatch(stdout, /EMFILE/);
      } finally {
        proc.kill("SIGKILL");
        await exited;
      }
    },
  );
});
