/**
 * npm run bench: figures, never assertions. Each case runs against targets it sets up itself and is
 * compared with a baseline measured in the same run on the same kind of target.
 *
 *   1. SysRq latency: POST /sysrq {keys:"h", settleMs:0} through the daemon (capture on) versus a raw
 *      client writing IAC BRK h to a twin guest's socket and waiting for the sysrq line.
 *   2. Sequence: "reisu" with verdicts awaited versus the same keys with the 1 s sleeps scripts use.
 *   5. Start-up: process start to /healthz answering, with 256 ports configured.
 *
 * Usage: npm run bench [-- --runs N] [-- --out FILE]
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { resolveConfig } from "../src/config/load.js";
import { startDaemon } from "../src/daemon.js";
import { READY_MARKER, freeTcpPort, startGuest, type Guest } from "../test/target/guest.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: { runs: { type: "string", default: "40" }, out: { type: "string" } },
});
const RUNS = Number(values.runs);

interface Figures {
  median: number;
  p90: number;
  max: number;
}

function figures(samples: number[]): Figures {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { median: at(0.5), p90: at(0.9), max: sorted.at(-1) ?? NaN };
}

const fmt = (n: number) => n.toFixed(2).padStart(9);

async function bootTwin(append: string[]): Promise<Guest> {
  const guest = await startGuest({ append });
  const { waitForFile } = await import("../test/target/guest.js");
  await waitForFile(guest.logfile, READY_MARKER, 60_000);
  await new Promise((r) => setTimeout(r, 1000));
  return guest;
}

/** The raw baseline: one persistent socket, IAC BRK + key, wait for the whole sysrq line. */
async function rawClient(port: number) {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  let text = "";
  let waiter: (() => void) | null = null;
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
    waiter?.();
  });
  await new Promise((r) => setTimeout(r, 300));
  return {
    async sysrq(key: string, marker: RegExp): Promise<number> {
      text = "";
      const start = performance.now();
      socket.write(Buffer.from([0xff, 0xf3, key.charCodeAt(0)]));
      await new Promise<void>((resolve) => {
        const check = () => {
          if (marker.test(text)) resolve();
        };
        waiter = check;
        check();
      });
      waiter = null;
      return performance.now() - start;
    },
    close: () => socket.destroy(),
  };
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, node: process.version },
    runs: RUNS,
  };
  console.log(
    `sysrq-bridge bench: ${os.cpus().length} cores, Node ${process.version}, ${RUNS} runs per case\n`,
  );

  // ---- 1 and 2: a guest behind the daemon, a twin guest for the raw client -------------------
  const captureDir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bench-"));
  const [viaDaemon, raw] = await Promise.all([
    bootTwin(["sysctl.kernel.sysrq=1"]),
    bootTwin(["sysctl.kernel.sysrq=1"]),
  ]);
  const config = resolveConfig(
    {
      listen: { host: "127.0.0.1", port: 0 },
      captureDir,
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: viaDaemon.telnetPort } }],
    },
    "/",
  );
  const daemon = await startDaemon({ config, logger: pino({ level: "silent" }) });
  try {
    const url = `${daemon.url}/ports/vm0/sysrq`;
    const post = async (body: unknown) => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return (await res.json()) as { results: { verdict: string }[] };
    };
    await new Promise((r) => setTimeout(r, 500));
    const daemonSamples: number[] = [];
    for (let i = 0; i < RUNS + 3; i += 1) {
      const start = performance.now();
      const body = await post({ keys: "h", settleMs: 0 });
      const elapsed = performance.now() - start;
      if (body.results[0]?.verdict !== "acknowledged")
        throw new Error(`unexpected verdict ${JSON.stringify(body)}`);
      if (i >= 3) daemonSamples.push(elapsed); // warm-up
      await new Promise((r) => setTimeout(r, 30));
    }
    const client = await rawClient(raw.telnetPort);
    const rawSamples: number[] = [];
    for (let i = 0; i < RUNS + 3; i += 1) {
      const elapsed = await client.sysrq("h", /sysrq: HELP[^\n]*\n/);
      if (i >= 3) rawSamples.push(elapsed);
      await new Promise((r) => setTimeout(r, 30));
    }
    const d = figures(daemonSamples);
    const r = figures(rawSamples);
    console.log("1. SysRq latency, h, settleMs 0 (bottleneck: guest kernel under TCG + daemon)");
    console.log("                        median       p90       max   (ms)");
    console.log(`   raw IAC BRK h   ${fmt(r.median)} ${fmt(r.p90)} ${fmt(r.max)}`);
    console.log(`   via daemon HTTP ${fmt(d.median)} ${fmt(d.p90)} ${fmt(d.max)}`);
    console.log(
      `   added by daemon ${fmt(d.median - r.median)} ${fmt(d.p90 - r.p90)}            ratio ${(d.median / r.median).toFixed(2)}x at the median\n`,
    );
    results["sysrqLatency"] = {
      raw: r,
      daemon: d,
      addedMedianMs: d.median - r.median,
      addedP90Ms: d.p90 - r.p90,
    };

    // 2. Sequence: awaited completions versus fixed 1 s sleeps between keys.
    const keys = "reisu";
    const start = performance.now();
    const seq = await post({ keys, timeoutMs: 5000, settleMs: 0 });
    const awaited = performance.now() - start;
    if (!seq.results.every((k) => k.verdict === "acknowledged"))
      throw new Error(`sequence: ${JSON.stringify(seq)}`);
    const sleptStart = performance.now();
    for (const key of keys) {
      await client.sysrq(key, /sysrq: [^\n]*\n/);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const slept = performance.now() - sleptStart;
    client.close();
    console.log(`2. Sequence "${keys}" (b left out: it ends the guest) (bottleneck: kernel completions)`);
    console.log(
      `   fixed 1 s sleeps ${fmt(slept)} ms   awaited verdicts ${fmt(awaited)} ms   ${(slept / awaited).toFixed(1)}x faster\n`,
    );
    results["sequence"] = { keys, sleptMs: slept, awaitedMs: awaited, speedup: slept / awaited };
  } finally {
    await daemon.close();
    await Promise.all([viaDaemon.stop(), raw.stop()]);
  }

  // ---- 5: start-up with 256 ports -------------------------------------------------------------
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bench-start-"));
  const httpPort = await freeTcpPort();
  const ports = Array.from(
    { length: 256 },
    (_, i) => `  - id: p${i}\n    transport: { kind: telnet, host: 127.0.0.1, port: ${20000 + i} }`,
  );
  await writeFile(
    path.join(dir, "config.yaml"),
    `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nlog: { level: error }\nports:\n${ports.join("\n")}\n`,
  );
  const startups: number[] = [];
  const baselines: number[] = [];
  for (let i = 0; i < 5; i += 1) {
    const t0 = performance.now();
    const bare = spawn(process.execPath, [
      "-e",
      "require('http').createServer((q,s)=>s.end('ok')).listen(" + httpPort + ")",
    ]);
    while (
      !(await fetch(`http://127.0.0.1:${httpPort}/`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      await new Promise((r) => setTimeout(r, 5));
    baselines.push(performance.now() - t0);
    bare.kill();
    await new Promise((r) => bare.once("exit", r));
    const t1 = performance.now();
    const child = spawn(
      process.execPath,
      [path.join(root, "dist/main.js"), "--config", path.join(dir, "config.yaml")],
      { stdio: "ignore" },
    );
    while (
      !(await fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
        (r) => r.ok,
        () => false,
      ))
    )
      await new Promise((r) => setTimeout(r, 5));
    startups.push(performance.now() - t1);
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
  const s = figures(startups);
  const b = figures(baselines);
  console.log("5. Start-up to /healthz, 256 ports configured (bottleneck: module loading)");
  console.log(
    `   bare node http server ${fmt(b.median)} ms   sysrq-bridge ${fmt(s.median)} ms (max ${s.max.toFixed(0)})   ratio ${(s.median / b.median).toFixed(1)}x\n`,
  );
  results["startup"] = { ports: 256, bareNode: b, daemon: s };

  const out = values.out ?? path.join(root, "bench", "results.json");
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`written ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
