/**
 * Case 5: process start to GET /healthz answering, with 256 ports configured (their targets absent:
 * the daemon reconnects in the background), versus a bare node http server started the same way.
 * The config is YAML, as people write it; a second row starts from the same config as JSON (which the
 * loader reads with JSON.parse, as a generator of configs for many ports might write it). Every run
 * after the first finds the previous run's capture files, as a restart does, and the V8 code cache of
 * the daemon's bundle (src/daemon/code-cache.ts) that the first start wrote, in a cache directory of the
 * bench's own. That first start, without a code cache, is kept apart. Beside wall time, the CPU time
 * of the daemon's main thread up to the answer: what other load on the machine disturbs least.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { bin } from "../../test/helpers/bin.js";
import { freeTcpPort } from "../../test/kit/index.js";
import { figures, load, pause, type BenchContext } from "../stats.js";

const PORTS = 256;

async function untilHealthy(url: string): Promise<void> {
  while (
    !(await fetch(url).then(
      (r) => r.ok,
      () => false,
    ))
  )
    await pause(5);
}

interface Start {
  readonly ms: number;
  /** CPU time of the process's main thread when it answered. */
  readonly mainThreadCpuMs: number;
}

/** Times one start; `meanwhile` runs before the process is stopped. */
async function timeStart(
  command: string[],
  url: string,
  env: NodeJS.ProcessEnv = process.env,
  meanwhile = async () => {},
): Promise<Start> {
  const start = performance.now();
  const child = spawn(process.execPath, command, { stdio: "ignore", env });
  await untilHealthy(url);
  const ms = performance.now() - start;
  const schedstat = readFileSync(`/proc/${child.pid}/task/${child.pid}/schedstat`, "utf8");
  await meanwhile();
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  return { ms, mainThreadCpuMs: Number(schedstat.split(" ")[0]) / 1e6 };
}

export async function startupCase(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bench-start-"));
  const httpPort = await freeTcpPort();
  const ports = Array.from({ length: PORTS }, (_, i) => ({
    id: `p${i}`,
    transport: { kind: "telnet", host: "127.0.0.1", port: 1 + i },
  }));
  const settings = {
    listen: { host: "127.0.0.1", port: httpPort },
    captureDir: path.join(dir, "capture"),
    log: { level: "error" },
    ports,
  };
  const yamlConfig = path.join(dir, "config.yaml");
  const jsonConfig = path.join(dir, "config.json");
  await writeFile(yamlConfig, stringify(settings));
  await writeFile(jsonConfig, JSON.stringify(settings));
  const bare = `require('http').createServer((q,s)=>s.end('ok')).listen(${httpPort},'127.0.0.1')`;
  const healthz = `http://127.0.0.1:${httpPort}/healthz`;
  const cacheHome = path.join(dir, "cache");
  const env = { ...process.env, XDG_CACHE_HOME: cacheHome };
  const loadAtStart = load();
  const cached = async () => (await readdir(path.join(cacheHome, "sysrq-bridge")).catch(() => [])).length > 0;
  // The daemon writes its cache a second after listening; a daemon that never does is not waited for.
  const first = await timeStart([bin, "--config", yamlConfig], healthz, env, async () => {
    const until = Date.now() + 10_000;
    while (!(await cached()) && Date.now() < until) await pause(50);
  });
  const yaml: Start[] = [];
  const json: Start[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < (ctx.smoke ? 1 : 5); i += 1) {
    bareMs.push((await timeStart(["-e", bare], `http://127.0.0.1:${httpPort}/`)).ms);
    yaml.push(await timeStart([bin, "--config", yamlConfig], healthz, env));
    json.push(await timeStart([bin, "--config", jsonConfig], healthz, env));
  }
  for (const [format, starts] of [
    ["YAML", yaml],
    ["JSON", json],
  ] as const) {
    ctx.rows.push({
      case: "5",
      name: `start-up to /healthz, ${PORTS} ports, ${format}`,
      unit: "ms",
      bottleneck: "module loading",
      figures: figures(starts.map((s) => s.ms)),
      baseline: { name: "bare node http server", figures: figures(bareMs) },
      extra: {
        goal: "< 500 ms",
        mainThreadCpuMs: figures(starts.map((s) => s.mainThreadCpuMs)),
        ...(format === "YAML" ? { firstStartWithoutCodeCache: first, codeCacheWritten: await cached() } : {}),
        load: [loadAtStart, load()],
      },
    });
  }
}
