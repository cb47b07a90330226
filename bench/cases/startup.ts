/**
 * Case 5: process start to GET /healthz answering, with 256 ports configured (their targets absent:
 * the daemon reconnects in the background), versus a bare node http server started the same way.
 * The config is YAML, as people write it; a second row starts from the same config as JSON (which the
 * loader reads with JSON.parse, as a generator of configs for many ports might write it). Every run
 * after the first finds the previous run's capture files, as a restart does.
 */
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { bin } from "../../test/helpers/bin.js";
import { freeTcpPort } from "../../test/target/guest.js";
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

async function timeStart(command: string[], url: string): Promise<number> {
  const start = performance.now();
  const child = spawn(process.execPath, command, { stdio: "ignore" });
  await untilHealthy(url);
  const elapsed = performance.now() - start;
  child.kill("SIGTERM");
  await new Promise((resolve) => child.once("exit", resolve));
  return elapsed;
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
  const daemonMs: number[] = [];
  const jsonMs: number[] = [];
  const bareMs: number[] = [];
  const loadAtStart = load();
  for (let i = 0; i < (ctx.smoke ? 1 : 5); i += 1) {
    bareMs.push(await timeStart(["-e", bare], `http://127.0.0.1:${httpPort}/`));
    daemonMs.push(await timeStart([bin, "--config", yamlConfig], `http://127.0.0.1:${httpPort}/healthz`));
    jsonMs.push(await timeStart([bin, "--config", jsonConfig], `http://127.0.0.1:${httpPort}/healthz`));
  }
  for (const [format, samples] of [
    ["YAML", daemonMs],
    ["JSON", jsonMs],
  ] as const) {
    ctx.rows.push({
      case: "5",
      name: `start-up to /healthz, ${PORTS} ports, ${format}`,
      unit: "ms",
      bottleneck: "module loading",
      figures: figures(samples),
      baseline: { name: "bare node http server", figures: figures(bareMs) },
      extra: { goal: "< 500 ms", load: [loadAtStart, load()] },
    });
  }
}
