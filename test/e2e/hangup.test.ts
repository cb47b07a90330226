/**
 * A daemon started from a terminal that then goes away (ssh drops, the window closes) gets SIGHUP: it
 * shuts down as for SIGTERM and ends, killed by SIGHUP. Through exit() Node 20 would abort while
 * restoring the vanished terminal's modes (nodejs/node#51519) and, on this VM, spin at 100% CPU for
 * ever. The terminal is a real pty from util-linux `script`.
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
import { freeTcpPort } from "../target/guest.js";

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

describe("terminal hang-up", { skip: requireTools("script"), timeout: 60_000 }, () => {
  it("a daemon whose terminal goes away shuts down and ends, killed by SIGHUP", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-hangup-"));
    const httpPort = await freeTcpPort();
    const config = path.join(dir, "config.json");
    await writeFile(
      config,
      JSON.stringify({
        listen: { host: "127.0.0.1", port: httpPort },
        captureDir: path.join(dir, "capture"),
        ports: [{ id: "p0", transport: { kind: "telnet", host: "127.0.0.1", port: 1 } }],
      }),
    );
    // script runs a shell on a new pty, in a session of its own whose controlling terminal it is, and
    // the daemon in it, as a user's terminal would.
    const log = path.join(dir, "log.jsonl");
    const command = `${process.execPath} ${bin} --config ${config} > ${log}`;
    const terminal = spawn("script", ["-qc", command, "/dev/null"], {
      stdio: ["ignore", "ignore", "ignore"],
    });
    let daemon = 0;
    try {
      await waitUntil(
        async () => {
          daemon = pidWith(`${bin}\u0000--config\u0000${config}`);
          const ok = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
          return daemon > 0 && ok;
        },
        20_000,
        "the daemon on the pty to answer /healthz",
      );
      terminal.kill("SIGKILL"); // the pty's master closes: the kernel hangs up the daemon's session
      await waitUntil(() => stateOf(daemon) === null || stateOf(daemon) === "Z", 15_000, "the daemon to end");
    } finally {
      if (daemon > 0 && stateOf(daemon) !== null) process.kill(daemon, "SIGKILL");
      terminal.kill("SIGKILL");
    }
    assert.equal(
      await fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
        () => "answered",
        () => "refused",
      ),
      "refused",
    );
  });
});
