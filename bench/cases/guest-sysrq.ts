/**
 * Cases 1 and 2 against three twin QEMU guests (QEMU serves one client per chardev).
 *
 *   1. SysRq latency: POST /sysrq {keys:"h", settleMs:0} through the daemon (audit and capture on,
 *      keep-alive client) versus a raw socket writing IAC BRK h and waiting for the whole sysrq line,
 *      and versus the floor: the same POST through bench/peers/minimal-relay.ts (bare node:http and
 *      one socket, no daemon), which is what one HTTP hop in front of the guest costs on this machine.
 *      The three alternate request by request and rotate over the guests, so neither the machine's
 *      load nor a slower twin lands on one side only. The daemon's Server-Timing splits its figure.
 *      Each daemon (and relay) is measured cold, right after start-up, and warm (see WARM_UP).
 *      The guests' chardevs have nodelay=on, as docs/targets.md recommends; --guest-nagle measures
 *      QEMU's default, where a BREAK after a quiet spell waits ~42 ms behind Nagle (docs/performance.md).
 *   2. Sequence: "reisu" with verdicts awaited versus the same keys with 1 s sleeps between them.
 */
import net from "node:net";
import { KeepAliveClient } from "../http-client.js";
import { figures, load, pause, type BenchContext } from "../stats.js";
import { startDaemonProcess, type DaemonProcess } from "../daemon-process.js";
import { startMinimalRelay } from "../relay-process.js";
import { READY_MARKER, startGuest, waitForFile, type Guest } from "../../test/kit/index.js";

interface SysrqBody {
  results: { verdict: string }[];
}

const GAP_MS = 30;
const PHASES = ["http", "queue", "wire", "kernel", "settle", "respond", "total"] as const;

async function bootGuest(nodelay: boolean): Promise<Guest> {
  const guest = await startGuest({ append: ["sysctl.kernel.sysrq=1"], nodelay });
  await waitForFile(guest.logfile, READY_MARKER, 90_000);
  return guest;
}

/** One persistent socket: IAC BRK + key in one write, then wait for the whole sysrq line. */
export async function rawClient(port: number) {
  const socket = net.connect({ host: "127.0.0.1", port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  let text = "";
  let waiter: (() => void) | null = null;
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
    waiter?.();
  });
  await pause(300);
  return {
    async sysrq(key: string, marker: RegExp): Promise<number> {
      text = "";
      const start = performance.now();
      socket.write(Buffer.from([0xff, 0xf3, key.charCodeAt(0)]));
      await new Promise<void>((resolve) => {
        waiter = () => {
          if (marker.test(text)) resolve();
        };
        waiter();
      });
      waiter = null;
      return performance.now() - start;
    },
    close: () => socket.destroy(),
  };
}

/** A request right after start-up: how long it took, and whether the kernel acknowledged it. */
interface FirstRequest {
  readonly ms: number;
  readonly acknowledged: boolean;
  /** The daemon's own split of it (Server-Timing; the relay sends none). */
  readonly timing: Record<string, number>;
}

/** POST sysrq h (settleMs 0) on a fresh connection, timed. */
async function firstRequest(url: string, path: string): Promise<FirstRequest> {
  const client = new KeepAliveClient(url);
  try {
    const start = performance.now();
    const answer = await client.post<SysrqBody>(path, { keys: "h", settleMs: 0 });
    const ms = performance.now() - start;
    const acknowledged = answer.body.results?.[0]?.verdict === "acknowledged";
    return { ms, acknowledged, timing: answer.timing };
  } finally {
    client.close();
  }
}

async function daemonOn(
  guest: Guest,
): Promise<{ daemon: DaemonProcess; client: KeepAliveClient; first: FirstRequest }> {
  const daemon = await startDaemonProcess({
    ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: guest.telnetPort } }],
    // The warm-up sends hundreds of requests a second.
    rateLimit: { max: 1_000_000, timeWindowMs: 1000 },
  });
  // The figure: the first request sent as soon as /healthz first answered (polled every 2 ms).
  const first = await firstRequest(daemon.url, "/ports/vm0/sysrq");
  await pause(500);
  return { daemon, client: new KeepAliveClient(daemon.url), first };
}

type RawClient = Awaited<ReturnType<typeof rawClient>>;

/** One phase's measurements: end to end via the daemon, the floor and raw; the daemon's Server-Timing. */
interface Samples {
  readonly viaDaemon: number[];
  readonly viaRelay: number[];
  readonly raw: number[];
  readonly phases: Record<string, number[]>;
  /** CPU (all threads, ms) the daemon and the relay used over the measured rounds, and how many. */
  readonly cpu: { daemonMs: number; relayMs: number; requests: number };
  /** CPU (all threads, ms) each used while nothing asked anything, over `ms` of wall time. */
  readonly idle: { daemonMs: number; relayMs: number; ms: number };
  /** The first request after start-up, one per daemon (relay) started. */
  readonly first: { daemon: FirstRequest[]; relay: FirstRequest[]; healthzMs: number[] };
}

const noSamples = (): Samples => ({
  viaDaemon: [],
  viaRelay: [],
  raw: [],
  phases: {},
  cpu: { daemonMs: 0, relayMs: 0, requests: 0 },
  idle: { daemonMs: 0, relayMs: 0, ms: 0 },
  first: { daemon: [], relay: [], healthzMs: [] },
});

interface Sides {
  readonly daemon: KeepAliveClient;
  readonly relay: KeepAliveClient;
  readonly raw: RawClient;
}

/** `count` rounds of one request per side, alternating, each after a pause; into `samples` when given. */
async function alternate(sides: Sides, count: number, samples: Samples | null): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    const answer = await sides.daemon.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h", settleMs: 0 });
    const elapsed = performance.now() - start;
    if (answer.body.results?.[0]?.verdict !== "acknowledged")
      throw new Error(`case 1: unexpected answer ${JSON.stringify(answer.body)}`);
    await pause(GAP_MS);
    const relayStart = performance.now();
    await sides.relay.post<SysrqBody>("/ports/p0/sysrq", { keys: "h", settleMs: 0 });
    const relayMs = performance.now() - relayStart;
    await pause(GAP_MS);
    const rawMs = await sides.raw.sysrq("h", /sysrq: HELP[^\n]*\n/);
    await pause(GAP_MS);
    if (!samples) continue;
    samples.viaDaemon.push(elapsed);
    samples.viaRelay.push(relayMs);
    samples.raw.push(rawMs);
    for (const [name, ms] of Object.entries(answer.timing)) (samples.phases[name] ??= []).push(ms);
    (samples.phases["client"] ??= []).push(elapsed - (answer.timing["total"] ?? elapsed));
  }
}

/** Requests in a row, unmeasured, to the daemon and to the relay: V8 optimises their request paths. */
async function warmUp(sides: Sides, count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const answer = await sides.daemon.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h", settleMs: 0 });
    if (answer.body.results?.[0]?.verdict !== "acknowledged")
      throw new Error(`case 1 warm-up: unexpected answer ${JSON.stringify(answer.body)}`);
    await sides.relay.post<SysrqBody>("/ports/p0/sysrq", { keys: "h", settleMs: 0 });
  }
}

/**
 * Each daemon is measured three times: its first request, sent as soon as /healthz first answers;
 * "cold", its first requests after start-up (two left out), when V8 still runs most of the request
 * path unoptimised, as in a daemon that has answered little since it started; then "warm", after
 * WARM_UP requests to it (and as many to the relay), as in one serving a test rig all day (see
 * src/daemon/jit-tiering.ts). The warm rounds are issue 14's goals (see printGoals).
 */
const WARM_UP = 300;
/** "http 1.2 wire 0.4 ..." from a Server-Timing record. */
const splitText = (timing: Record<string, number>): string =>
  Object.entries(timing)
    .map(([name, ms]) => `${name} ${ms.toFixed(1)}`)
    .join(" ");

/** Which guest configuration case 1 measured: the floor and the daemon share it. */
const chardevSays = (nodelay: boolean): string =>
  nodelay
    ? "guests' chardev nodelay=on (as docs/targets.md recommends; --guest-nagle for QEMU's default)"
    : "guests' chardev QEMU's default, Nagle on (--guest-nagle): a first BREAK waits ~42 ms for a delayed ACK";

const warmUpCount = (ctx: BenchContext): number => ctx.warmUp ?? (ctx.smoke ? 20 : WARM_UP);

/** How long each daemon and relay is left idle, after the warm rounds, for its idle CPU. */
const IDLE_MS = 3000;
/** Warm rounds per run (over the three rotations) unless --runs says otherwise: enough for a p90. */
const WARM_ROUNDS = 300;

export async function guestCases(ctx: BenchContext): Promise<void> {
  const nodelay = ctx.guestNodelay !== false;
  console.log(`    case 1: ${chardevSays(nodelay)}`);
  const guests = await Promise.all([bootGuest(nodelay), bootGuest(nodelay), bootGuest(nodelay)]);
  const cold = noSamples();
  const warm = noSamples();
  const loadAtStart = load();
  try {
    // Three rotations, so each client meets each guest once.
    for (let rotation = 0; rotation < guests.length; rotation += 1) {
      const [mine, relayed, twin] = [0, 1, 2].map((i) => guests[(rotation + i) % guests.length]);
      if (!mine || !relayed || !twin) continue;
      const { daemon, client, first } = await daemonOn(mine);
      const relay = await startMinimalRelay([relayed.telnetPort]);
      warm.first.daemon.push(first);
      warm.first.healthzMs.push(daemon.healthzMs);
      warm.first.relay.push(await firstRequest(relay.url, "/ports/p0/sysrq"));
      const sides: Sides = {
        daemon: client,
        relay: new KeepAliveClient(relay.url),
        raw: await rawClient(twin.telnetPort),
      };
      try {
        const runs = Math.ceil(ctx.runs / guests.length);
        await alternate(sides, 2, null);
        await alternate(sides, runs, cold);
        await warmUp(sides, warmUpCount(ctx));
        const warmRuns = ctx.smoke || ctx.runsGiven ? runs : Math.ceil(WARM_ROUNDS / guests.length);
        const cpuBefore = { daemon: daemon.threadsCpuMs(), relay: relay.threadsCpuMs() };
        await alternate(sides, warmRuns, warm);
        warm.cpu.daemonMs += daemon.threadsCpuMs() - cpuBefore.daemon;
        warm.cpu.relayMs += relay.threadsCpuMs() - cpuBefore.relay;
        warm.cpu.requests += warmRuns;
        // Idle: what either costs between requests (timers), part of the CPU per request above.
        const idleBefore = {
          daemon: daemon.threadsCpuMs(),
          relay: relay.threadsCpuMs(),
          at: performance.now(),
        };
        await pause(ctx.smoke ? 200 : IDLE_MS);
        warm.idle.daemonMs += daemon.threadsCpuMs() - idleBefore.daemon;
        warm.idle.relayMs += relay.threadsCpuMs() - idleBefore.relay;
        warm.idle.ms += performance.now() - idleBefore.at;
        if (rotation === guests.length - 1) await sequenceCase(ctx, client, sides.raw);
      } finally {
        client.close();
        sides.relay.close();
        sides.raw.close();
        await relay.close();
        await daemon.stop();
      }
    }
  } finally {
    await Promise.all(guests.map((guest) => guest.stop()));
  }
  pushRows(ctx, "cold", cold, loadAtStart);
  pushRows(ctx, "warm", warm, loadAtStart);
  printGoals(ctx, warm);
}

/**
 * Issue 14's goals for the daemon against the floor (the minimal relay), measured in the same run:
 * warm median <= floor + 0.5 ms, warm p90 <= floor's p90 + 1 ms, CPU per request <= 1.5x the floor's,
 * and the first request after /healthz first answers <= 20 ms (the slowest of the daemons started).
 */
function printGoals(ctx: BenchContext, warm: Samples): void {
  const d = figures(warm.viaDaemon);
  const floor = figures(warm.viaRelay);
  const cpu = {
    daemon: warm.cpu.daemonMs / warm.cpu.requests,
    floor: warm.cpu.relayMs / warm.cpu.requests,
  };
  const firstMs = warm.first.daemon.map((f) => f.ms);
  const firstWorst = Math.max(...firstMs);
  const goals = [
    { goal: "median <= floor + 0.5 ms", value: d.median, limit: floor.median + 0.5, floor: floor.median },
    { goal: "p90 <= floor p90 + 1 ms", value: d.p90, limit: floor.p90 + 1, floor: floor.p90 },
    { goal: "CPU/request <= 1.5x floor", value: cpu.daemon, limit: 1.5 * cpu.floor, floor: cpu.floor },
    {
      goal: "first request <= 20 ms",
      value: firstWorst,
      limit: 20,
      floor: Math.max(...warm.first.relay.map((f) => f.ms)),
    },
  ].map((g) => ({ ...g, ok: g.value <= g.limit }));
  const ms = (n: number): string => n.toFixed(2);
  const nodelay = ctx.guestNodelay !== false;
  console.log(
    `    goals (warm, after ${warmUpCount(ctx)} warm-up requests to each; ${nodelay ? "chardev nodelay=on" : "chardev Nagle on (--guest-nagle)"}; ms):`,
  );
  for (const g of goals)
    console.log(
      `      ${g.goal.padEnd(28)} daemon ${ms(g.value).padStart(7)}  floor ${ms(g.floor).padStart(7)}  ` +
        `limit ${ms(g.limit).padStart(7)}  ${g.ok ? "ok" : "MISSED"}`,
    );
  console.log(
    `      first requests: daemon ${firstMs.map(ms).join(", ")}` +
      `${warm.first.daemon.every((f) => f.acknowledged) ? "" : " (not all acknowledged)"} ` +
      `(daemon's split: ${warm.first.daemon.map((f) => splitText(f.timing)).join("; ")}); ` +
      `relay ${warm.first.relay.map((f) => ms(f.ms)).join(", ")}; ` +
      `spawn to /healthz ${warm.first.healthzMs.map((n) => n.toFixed(0)).join(", ")}`,
  );
  const idle = {
    daemon: (warm.idle.daemonMs / warm.idle.ms) * 1000,
    floor: (warm.idle.relayMs / warm.idle.ms) * 1000,
  };
  console.log(
    `      CPU per request: daemon ${ms(cpu.daemon)}, floor ${ms(cpu.floor)} (${(cpu.daemon / cpu.floor).toFixed(2)}x); ` +
      `idle CPU (ms per s): daemon ${ms(idle.daemon)}, floor ${ms(idle.floor)}`,
  );
  ctx.rows.push({
    case: "1",
    name: "first SysRq after /healthz answers",
    unit: "ms",
    // A fresh telnet connection's first BREAK: on QEMU's default chardev the guest took 40-45 ms to
    // answer it (Server-Timing's kernel phase, Nagle against a delayed ACK), the relay's as long.
    bottleneck: "guest",
    figures: figures(firstMs),
    extra: {
      floorFirstMs: figures(warm.first.relay.map((f) => f.ms)),
      daemonSplitsMs: warm.first.daemon.map((f) => f.timing),
      goals,
      guestChardev: nodelay ? "nodelay=on" : "QEMU default (Nagle)",
      cpuPerRequestMs: cpu,
      idleCpuMsPerSecond: idle,
      healthzMs: warm.first.healthzMs,
      firstAcknowledged: warm.first.daemon.every((f) => f.acknowledged),
    },
  });
}

function pushRows(ctx: BenchContext, phase: "cold" | "warm", samples: Samples, loadAtStart: number): void {
  const d = figures(samples.viaDaemon);
  const r = figures(samples.raw);
  const floor = figures(samples.viaRelay);
  const breakdown = Object.fromEntries(
    [...PHASES, "client" as const].map((name) => [name, figures(samples.phases[name] ?? [])]),
  );
  ctx.rows.push({
    case: "1",
    name: `SysRq "h" via daemon, settleMs 0, ${phase}`,
    unit: "ms",
    bottleneck: "kernel",
    figures: d,
    baseline: { name: "raw IAC BRK h, same guests", figures: r },
    extra: {
      addedMedianMs: d.median - r.median,
      addedP90Ms: d.p90 - r.p90,
      goal: "added <= 1.5 ms median, <= 3 ms p90",
      breakdownMs: breakdown,
      floor: { ...floor, addedMedianMs: floor.median - r.median, addedP90Ms: floor.p90 - r.p90 },
      ...(phase === "warm" ? { warmUpRequests: warmUpCount(ctx) } : {}),
      load: [loadAtStart, load()],
    },
  });
  ctx.rows.push({
    case: "1",
    name: `floor: minimal relay, same guests, ${phase}`,
    unit: "ms",
    bottleneck: "kernel",
    figures: floor,
    baseline: { name: "raw IAC BRK h, same guests", figures: r },
    extra: {
      note: "bare node:http + one socket (bench/peers/minimal-relay.ts): what any HTTP hop costs here",
    },
  });
  const line = (name: string): string => `${name} ${breakdown[name]?.median.toFixed(2) ?? "-"}`;
  console.log(
    `    ${phase}: daemon's own split (median ms): ${[...PHASES, "client"].map(line).join(", ")}; ` +
      `added ${(d.median - r.median).toFixed(2)} median, ${(d.p90 - r.p90).toFixed(2)} p90; ` +
      `floor (minimal relay) added ${(floor.median - r.median).toFixed(2)} median, ${(floor.p90 - r.p90).toFixed(2)} p90`,
  );
}

async function sequenceCase(ctx: BenchContext, client: KeepAliveClient, rawSide: RawClient): Promise<void> {
  const keys = ctx.smoke ? "s" : "reisu";
  const start = performance.now();
  const answer = await client.post<SysrqBody>("/ports/vm0/sysrq", { keys, timeoutMs: 5000, settleMs: 0 });
  const awaited = performance.now() - start;
  if (!answer.body.results.every((k) => k.verdict === "acknowledged"))
    throw new Error(`case 2: ${JSON.stringify(answer.body)}`);
  const sleptStart = performance.now();
  for (const key of keys) {
    await rawSide.sysrq(key, /sysrq: [^\n]*\n/);
    await pause(1000);
  }
  const slept = performance.now() - sleptStart;
  ctx.rows.push({
    case: "2",
    name: `sequence "${keys}" awaited (b left out)`,
    unit: "ms",
    bottleneck: "kernel",
    figures: figures([awaited]),
    baseline: { name: "same keys, 1 s sleeps", figures: figures([slept]) },
    extra: { speedup: slept / awaited, load: load() },
  });
}
