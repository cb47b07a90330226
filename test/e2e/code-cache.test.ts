/**
 * The real binary (dist/main.js) with the V8 code cache of its daemon bundle: written after the first
 * start, used by the next, rewritten when damaged, and never needed (a directory that cannot be
 * written leaves the daemon as it was).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import { bin } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import { freeTcpPort } from "../kit/index.js";

/** Starts the daemon with `XDG_CACHE_HOME`, waits for /healthz, runs `meanwhile`, stops it (exit 0). */
async function daemonRun(xdgCacheHome: string, meanwhile: () => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-code-cache-e2e-"));
  const httpPort = await freeTcpPort();
  const config = path.join(dir, "config.yaml");
  await writeFile(
    config,
    `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: 1 }\n`,
  );
  const child = spawn(process.execPath, [bin, "--config", config], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, XDG_CACHE_HOME: xdgCacheHome },
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`daemon exited ${child.exitCode}: ${stderr}`);
        return fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
      },
      10_000,
      "daemon listening",
    );
    await meanwhile();
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, stderr);
}

async function cacheFile(xdgCacheHome: string): Promise<string | undefined> {
  const dir = path.join(xdgCacheHome, "sysrq-bridge");
  const names = await readdir(dir).catch(() => []);
  const name = names.find((n) => n.endsWith(".v8cache"));
  return name === undefined ? undefined : path.join(dir, name);
}

describe("daemon bundle's code cache", () => {
  it("is written once the daemon listens, used as it is by the next start, rewritten when damaged", async () => {
    const xdg = await mkdtemp(path.join(os.tmpdir(), "sysrq-xdg-"));
    let file: string | undefined;
    await daemonRun(xdg, () =>
      waitUntil(async () => (file = await cacheFile(xdg)) !== undefined, 10_000, "cache written"),
    );
    assert.ok(file);
    const written = await stat(file);
    // Left alone by a start that used it (past the second after listening when a cache is written).
    await daemonRun(xdg, () => sleep(2_000));
    assert.equal((await stat(file)).mtimeMs, written.mtimeMs);
    const damaged = await readFile(file);
    damaged.writeUInt8(damaged.readUInt8(damaged.length - 100) ^ 0xff, damaged.length - 100);
    await writeFile(file, damaged);
    const before = (await stat(file)).mtimeMs;
    await daemonRun(xdg, () =>
      waitUntil(async () => (await stat(file ?? "")).mtimeMs !== before, 10_000, "cache rewritten"),
    );
    assert.notDeepEqual(await readFile(file), damaged);
  });

  it("is not needed: with a cache directory that cannot be written, the daemon serves as before", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-xdg-"));
    // A file where the directory should be: no one can write beneath it, root included.
    const xdg = path.join(dir, "not-a-directory");
    await writeFile(xdg, "");
    await daemonRun(xdg, () => sleep(2_000));
  });
});
