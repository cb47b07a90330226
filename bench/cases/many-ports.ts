/**
 * Case 4: many ports. 256 telnet peers (each a FakeKernel behind a real socket, answering BREAK + key
 * at once) on one daemon; every port gets SysRq "h" concurrently, for several rounds. Figures:
 * per-request latency (p99 is the goal), requests per second, and the daemon's RSS per idle port
 * (RSS with 256 connected idle ports minus RSS with one unconnected port, over 255). Baseline: the
 * floor, the same rounds through bench/peers/minimal-relay.ts (bare node:http and one socket per port,
 * nothing else), which is what the machine's wake-ups and HTTP cost. A second row gives the same
 * requests to a single port, one at a time, so a figure that grows with the port count shows serialisation.
 * The peers run in a process of their own (bench/peers/kernel-peers.ts), apart from the HTTP client;
 * on 2 cores the three processes still compete, so the daemon's own share is also reported from its
 * Server-Timing (total minus the wait for the peer's answer) and its CPU against the wall time.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { KeepAliveClient } from "../http-client.js";
import { startDaemonProcess } from "../daemon-process.js";
import { startMinimalRelay } from "../relay-process.js";
import { figures, load, pause, percentile, type BenchContext } from "../stats.js";

const PORTS = 256;
const PEERS = fileURLToPath(new URL("../peers/kernel-peers.ts", import.meta.url));

interface PeerProcess {
  readonly ports: number[];
  close(): Promise<void>;
}

async function startPeers(count: number): Promise<PeerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", PEERS, String(count)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("\n")) resolve(JSON.parse(text) as number[]);
    });
    child.once("exit", (code) => reject(new Error(`kernel peers exited (${code})`)));
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    ports,
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

/** One SysRq "h" request; its end-to-end time, and the daemon's Server-Timing when it sent one. */
async function sysrqH(
  client: KeepAliveClient,
  port: string,
): Promise<{ ms: number; timing: Record<string, number> }> {
  const start = performance.now();
  const answer = await client.post<{ results: { verdict: string }[] }>(`/ports/${port}/sysrq`, {
    keys: "h",
    settleMs: 0,
  });
  if (answer.body.results?.[0]?.verdict !== "acknowledged")
    throw new Error(`case 4: ${JSON.stringify(answer.body)}`);
  return { ms: performance.now() - start, timing: answer.timing };
}

interface Rounds {
  readonly latencies: number[];
  readonly timings: Record<string, number>[];
  readonly wallMs: number;
  /** The server's CPU per request in each round. */
  readonly cpuMsPerRequest: number[];
}

/** `count` rounds of one request to every port at once; `cpuMs` is the server's CPU time so far. */
async function rounds(client: KeepAliveClient, count: number, cpuMs: () => number): Promise<Rounds> {
  const latencies: number[] = [];
  const timings: Record<string, number>[] = [];
  const cpuMsPerRequest: number[] = [];
  let wallMs = 0;
  for (let round = 0; round < count; round += 1) {
    const cpuBefore = cpuMs();
    const start = performance.now();
    const answered = await Promise.all(Array.from({ length: PORTS }, (_, i) => sysrqH(client, `p${i}`)));
    wallMs += performance.now() - start;
    cpuMsPerRequest.push((cpuMs() - cpuBefore) / PORTS);
    for (const { ms, timing } of answered) {
      latencies.push(ms);
      timings.push(timing);
    }
  }
  return { latencies, timings, wallMs, cpuMsPerRequest };
}

/**
 * The schedule both servers get: one round opening the connections, then the measured rounds right
 * after start-up ("cold": V8 still runs most of the request path unoptimised), then as many rounds
 * again unmeasured while it optimises, then the measured rounds once more ("warm"). A daemon that
 * serves a test rig all day runs warm; one that answered a few requests since it started runs cold.
 */
async function coldAndWarm(
  client: KeepAliveClient,
  count: number,
  cpuMs: () => number,
): Promise<{ cold: Rounds; warm: Rounds; cpuMsPerRequestByRound: number[] }> {
  const opening = await rounds(client, 1, cpuMs);
  const cold = await rounds(client, count, cpuMs);
  const warming = await rounds(client, count, cpuMs);
  const warm = await rounds(client, count, cpuMs);
  const cpuMsPerRequestByRound = [opening, cold, warming, warm].flatMap((r) => r.cpuMsPerRequest);
  return { cold, warm, cpuMsPerRequestByRound };
}

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

/** The same rounds against the minimal relay (the floor), with its own keep-alive connections. */
async function floorRun(peerPorts: number[], count: number): ReturnType<typeof coldAndWarm> {
  const relay = await startMinimalRelay(peerPorts);
  const client = new KeepAliveClient(relay.url, PORTS);
  try {
    return await coldAndWarm(client, count, () => relay.cpuMs());
  } finally {
    client.close();
    await relay.close();
  }
}

async function waitAllOpen(url: string, count: number): Promise<void> {
  for (let i = 0; i < 400; i += 1) {
    const ports = (await (await fetch(`${url}/ports`)).json()) as { state: string }[];
    if (ports.filter((p) => p.state === "open").length >= count) return;
    await pause(50);
  }
  throw new Error("case 4: ports did not all open");
}

export async function manyPortsCase(ctx: BenchContext): Promise<void> {
  const count = ctx.smoke ? 1 : 5;
  const loadAtStart = load();
  // The config needs one port: an unreachable one stands for "no ports".
  const empty = await startDaemonProcess({
    ports: [{ id: "none", transport: { kind: "telnet", host: "127.0.0.1", port: 1 } }],
  });
  await pause(300);
  const rssEmpty = empty.rssKiB();
  await empty.stop();

  const peers = await startPeers(PORTS);
  const daemon = await startDaemonProcess({
    ports: peers.ports.map((port, i) => ({
      id: `p${i}`,
      transport: { kind: "telnet", host: "127.0.0.1", port },
    })),
    rateLimit: { max: 1_000_000, timeWindowMs: 1000 },
    ...(process.env["BENCH_LOG"] ? { log: { level: process.env["BENCH_LOG"] } } : {}),
  });
  const client = new KeepAliveClient(daemon.url, PORTS);
  try {
    await waitAllOpen(daemon.url, PORTS);
    await pause(500);
    const rssIdle = daemon.rssKiB();
    const single: number[] = [];
    for (let i = 0; i < (ctx.smoke ? 5 : 50); i += 1) single.push((await sysrqH(client, "p0")).ms);
    const measured = await coldAndWarm(client, count, () => daemon.cpuMs());
    const rssAfterLoad = daemon.rssKiB();
    client.close();
    await daemon.stop();
    const floor = await floorRun(peers.ports, count);
    for (const phase of ["cold", "warm"] as const) {
      const { latencies, timings, wallMs, cpuMsPerRequest } = measured[phase];
      const floorPhase = floor[phase];
      const own = timings.map(({ total = NaN, kernel = NaN }) => total - kernel);
      const peerAnswer = timings.map(({ kernel = NaN }) => kernel);
      const lat = figures(latencies);
      const cpu = { daemon: mean(cpuMsPerRequest), floor: mean(floorPhase.cpuMsPerRequest) };
      // Above one core's worth of CPU (its thread pool and GC count too), the daemon is what limits.
      const cpuShare = (cpu.daemon * latencies.length) / wallMs;
      const requestsPerSecond = latencies.length / (wallMs / 1000);
      const floorRequestsPerSecond = floorPhase.latencies.length / (floorPhase.wallMs / 1000);
      ctx.rows.push({
        case: "4",
        name: `${PORTS} ports, SysRq on all at once, ${phase}`,
        unit: "ms",
        bottleneck: cpuShare >= 0.9 ? "daemon" : "kernel",
        figures: lat,
        baseline: {
          name: `floor: minimal relay, same peers, ${phase}`,
          figures: figures(floorPhase.latencies),
        },
        extra: {
          rounds:
            phase === "cold" ? `2-${count + 1} after start` : `${2 * count + 2}-${3 * count + 1} after start`,
          p99Ms: percentile(latencies, 0.99),
          // Server-Timing: the daemon's handling (total minus the wait for the peer's answer), and that
          // wait, which also holds the time the answer sat unread while the loop served other ports.
          daemonOwnMs: { ...figures(own), p99: percentile(own, 0.99) },
          peerAnswerMs: { ...figures(peerAnswer), p99: percentile(peerAnswer, 0.99) },
          daemonCpuShareOfWall: cpuShare,
          // CPU per request is what load on this shared machine disturbs least.
          cpuMsPerRequest: cpu,
          requestsPerSecond,
          floor: { p99Ms: percentile(floorPhase.latencies, 0.99), requestsPerSecond: floorRequestsPerSecond },
          ...(phase === "cold"
            ? {
                rssKiBPerIdlePort: (rssIdle - rssEmpty) / (PORTS - 1),
                rssKiB: { noPorts: rssEmpty, idle256: rssIdle, afterLoad: rssAfterLoad },
              }
            : {
                // Round by round from start-up: how V8 optimising the request path lowers its cost.
                cpuMsPerRequestByRound: {
                  daemon: measured.cpuMsPerRequestByRound,
                  floor: floor.cpuMsPerRequestByRound,
                },
              }),
          goal: "p99 < 50 ms, < 200 KiB RSS per idle port",
          load: [loadAtStart, load()],
        },
      });
      console.log(
        `    ${phase}: p99 ${percentile(latencies, 0.99).toFixed(1)} ms end to end (floor ` +
          `${percentile(floorPhase.latencies, 0.99).toFixed(1)}); Server-Timing minus the peer's answer p99 ` +
          `${percentile(own, 0.99).toFixed(2)} ms; CPU per request ${cpu.daemon.toFixed(2)} ms (floor ` +
          `${cpu.floor.toFixed(2)}), ${(cpuShare * 100).toFixed(0)}% of wall; ${requestsPerSecond.toFixed(0)} ` +
          `requests/s (floor ${floorRequestsPerSecond.toFixed(0)})` +
          (phase === "cold"
            ? `; RSS ${((rssIdle - rssEmpty) / (PORTS - 1)).toFixed(1)} KiB per idle port`
            : ""),
      );
    }
    const byRound = (values: number[]): string => values.map((v) => v.toFixed(2)).join(" ");
    console.log(`    CPU per request by round, daemon: ${byRound(measured.cpuMsPerRequestByRound)}`);
    console.log(`    CPU per request by round, floor:  ${byRound(floor.cpuMsPerRequestByRound)}`);
    ctx.rows.push({
      case: "4",
      name: "one port, one request at a time",
      unit: "ms",
      bottleneck: "kernel",
      figures: figures(single),
      extra: { note: "the same daemon; a figure far below the row above shows nothing is serialised" },
    });
  } finally {
    client.close();
    await daemon.stop();
    await peers.close();
  }
}
