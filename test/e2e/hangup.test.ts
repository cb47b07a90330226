/**
 * A daemon started from a terminal that then goes away (ssh drops, the window closes) gets SIGHUP,
 * which means "re-read the config": it keeps running, its log writes to the vanished terminal fail
 * with EIO and are dropped (no crash, no spin), and a later SIGTERM still ends it. Through exit()
 * Node 20 would abort while restoring the vanished terminal's modes (nodejs/node#51519) and, on this
 * VM, spin at 100% CPU for ever. The terminal is a real pty from util-linux `script`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { bin } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import { requireTools } from "../helpers/tools.js";
import { freeTcpPort } from "../kit/index.js";

/** The process's state letter from /proc (R, S, Z ...), or null once it is gone. */
function stateOf(pid: number): string | null {
  if (!existsSync(`/proc/${pid}/stat`)) return null;
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] ?? null;
  } catch {
    return null;
  }
}

/** The pid of the process whose command line mentions `needle`, or 0. */
function pidWith(needle: string): number {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return 0;
}

/** User + system CPU time of a process, in clock ticks (100 per second on Linux). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return Number(fields[11]) + Number(fields[12]);
}

describe("terminal hang-up", { skip: requireTools("script"), timeout: 60_000 }, () => {
  it("a daemon whose terminal goes away keeps running, reloads, neither crashes nor spins on EIO", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-hangup-"));
    const httpPort = await freeTcpPort();
    const config = path.join(dir, "config.json");
    const ports = [{ id: "p0", transport: { kind: "telnet", host: "127.0.0.1", port: 1 } }];
    const document = (more: unknown[] = []) =>
      JSON.stringify({
        listen: { host: "127.0.0.1", port: httpPort },
        captureDir: path.join(dir, "capture"),
        ports: [...ports, ...more],
      });
    await writeFile(config, document());
    // script runs a shell on a new pty, in a session of its own whose controlling terminal it is, and
    // the daemon in it, as a user's terminal would; its log (stdout) and stderr go to that terminal.
    const command = `${process.execPath} ${bin} --config ${config}`;
    const terminal = spawn("script", ["-qc", command, "/dev/null"], {
      stdio: ["ignore", "ignore", "ignore"],
    });
    const healthy = () =>
      fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
        (r) => r.ok,
        () => false,
      );
    let daemon = 0;
    try {
      await waitUntil(
        async () => {
          daemon = pidWith(`${bin}\u0000--config\u0000${config}`);
          return daemon > 0 && (await healthy());
        },
        20_000,
        "the daemon on the pty to answer /healthz",
      );
      terminal.kill("SIGKILL"); // the pty's master closes: the kernel hangs up the daemon's session
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.ok(await healthy(), "still answering after the hang-up");
      // Log lines now go to a terminal that is gone (EIO): requests log, the daemon goes on.
      for (let i = 0; i < 20; i += 1) assert.ok(await healthy());
      await writeFile(
        config,
        document([{ id: "p1", transport: { kind: "telnet", host: "127.0.0.1", port: 1 } }]),
      );
      process.kill(daemon, "SIGHUP");
      await waitUntil(
        () =>
          fetch(`http://127.0.0.1:${httpPort}/ports/p1`, { signal: AbortSignal.timeout(3000) }).then(
            (r) => r.ok,
            () => false,
          ),
        10_000,
        "the reloaded config's new port",
      );
      const ticks = cpuTicks(daemon);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const spent = cpuTicks(daemon) - ticks;
      assert.ok(spent < 30, `the daemon used ${spent * 10} ms of CPU in 2 s: it spins`);
      assert.ok(await healthy());
      // And it still ends on SIGTERM (not through exit(), which would spin on the vanished terminal).
      process.kill(daemon, "SIGTERM");
      await waitUntil(() => stateOf(daemon) === null || stateOf(daemon) === "Z", 15_000, "the daemon to end");
    } finally {
      if (daemon > 0 && stateOf(daemon) !== null) process.kill(daemon, "SIGKILL");
      terminal.kill("SIGKILL");
    }
    assert.equal(
      await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(3000) }).then(
        () => "answered",
        () => "refused",
      ),
      "refused",
    );
  });
});
