/**
 * Case 3b: the daemon's own capture ceiling. A telnet peer (a child process, so its CPU is not the
 * daemon's) streams a known byte pattern as fast as the socket takes it; the daemon captures it, and
 * a raw socket reader of the same peer is the baseline. Throughput is MB/s from the peer's go to the
 * last byte (in the file, for the daemon); the daemon's CPU per MB comes from /proc. Zero bytes may be lost:
 * the capture is compared with the pattern byte for byte, and must hold nothing else.
 *
 * One daemon serves every run, as one process holds the raw reader: both are as warm (or as cold, in
 * the first run, reported apart) as the other. The peer streams to its newest open connection: the
 * raw reader's while it is connected, then the daemon's.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { open, rm, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { startDaemonProcess } from "../daemon-process.js";
import { figures, load, pause, type BenchContext } from "../stats.js";
import { streamPattern, telnetEscaped } from "../peers/pattern.js";

const PEER = fileURLToPath(new URL("../peers/stream-peer.ts", import.meta.url));
/** The daemon's capture counts as stalled (bytes lost) when its file has not grown for this long. */
const STALL_MS = 10_000;

interface Peer {
  readonly port: number;
  readonly child: ChildProcess;
  /** Starts streaming to the newest open connection. */
  go(): void;
  /** Resolves with the remote port of the next connection the peer accepts. */
  nextOpen(): Promise<number>;
  /** Resolves once the peer has seen the connection from `remotePort` close. */
  closed(remotePort: number): Promise<void>;
}

/** Starts the peer process; it serves `bytes` of the pattern to its newest connection on each go(). */
async function startPeer(bytes: number): Promise<Peer> {
  const child = spawn(process.execPath, ["--import", "tsx", PEER, String(bytes)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  // The peer's stdout lines, and who waits for which: a line nobody waits for yet is kept.
  const unclaimed: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: RegExpExecArray) => void }[] = [];
  const claim = (line: string): boolean => {
    const at = waiters.findIndex((w) => w.pattern.test(line));
    if (at === -1) return false;
    const [waiter] = waiters.splice(at, 1);
    waiter?.resolve(waiter.pattern.exec(line) as RegExpExecArray);
    return true;
  };
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
    if (!claim(line)) unclaimed.push(line);
  });
  const waitFor = (pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve) => {
      const at = unclaimed.findIndex((line) => pattern.test(line));
      if (at === -1) waiters.push({ pattern, resolve });
      else resolve(pattern.exec(unclaimed.splice(at, 1)[0] as string) as RegExpExecArray);
    });
  const port = await Promise.race([
    waitFor(/^(\d+)$/).then((m) => Number(m[1])),
    new Promise<never>((_, reject) =>
      child.once("exit", (code) => reject(new Error(`stream peer exited (${code})`))),
    ),
  ]);
  return {
    port,
    child,
    go: () => child.stdin?.write("go\n"),
    nextOpen: () => waitFor(/^open (\d+)$/).then((m) => Number(m[1])),
    closed: (remotePort) => waitFor(new RegExp(`^closed ${remotePort}$`)).then(() => undefined),
  };
}

/** One raw run: connect, have the peer stream to this connection, count every byte, close. */
async function rawRead(peer: Peer, wireBytes: number): Promise<{ ms: number }> {
  const socket = net.connect({ host: "127.0.0.1", port: peer.port });
  await new Promise((resolve) => socket.once("connect", resolve));
  const localPort = socket.localPort ?? 0;
  await peer.nextOpen();
  let received = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received >= wireBytes) resolve();
    });
    peer.go();
  });
  const ms = performance.now() - start;
  socket.destroy();
  // Until the peer has seen it go, this connection would still be its newest.
  await peer.closed(localPort);
  return { ms };
}

/** Waits until the capture file holds `size` bytes; false if it stops growing for STALL_MS first. */
async function captured(file: string, size: number): Promise<boolean> {
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const now = (await stat(file)).size;
    if (now >= size) return true;
    if (now !== last) [last, lastChange] = [now, performance.now()];
    else if (performance.now() - lastChange > STALL_MS) return false;
    await pause(2);
  }
}

async function readRegion(file: string, from: number, length: number): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const out = Buffer.alloc(length);
    const { bytesRead } = await handle.read(out, 0, length, from);
    return out.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export async function streamCase(ctx: BenchContext): Promise<void> {
  const bytes = (ctx.smoke ? 4 : 64) * 1024 * 1024;
  const runs = ctx.smoke ? 1 : 4;
  const peer = await startPeer(bytes);
  const expected = streamPattern(bytes);
  const wireBytes = telnetEscaped(expected).length;
  const daemonMBs: number[] = [];
  const rawMBs: number[] = [];
  const cpuPerMB: number[] = [];
  const loadAtStart = load();
  const mb = bytes / 1048576;
  let lost = 0;
  let extra = 0;
  try {
    const daemonConnected = peer.nextOpen();
    const daemon = await startDaemonProcess({
      ports: [
        { id: "s0", transport: { kind: "telnet", host: "127.0.0.1", port: peer.port, mode: "standard" } },
      ],
      capture: { rotateBytes: 2 ** 32, maxTotalBytes: 2 ** 34 },
    });
    const rawFile = path.join(daemon.dir, "capture", "s0.raw");
    try {
      await daemonConnected;
      for (let run = 0; run < runs; run += 1) {
        rawMBs.push(mb / ((await rawRead(peer, wireBytes)).ms / 1000));
        const cpuBefore = daemon.cpuMs();
        const start = performance.now();
        peer.go();
        // Done when the last byte is in the file, not merely received.
        const complete = await captured(rawFile, (run + 1) * bytes);
        daemonMBs.push(complete ? mb / ((performance.now() - start) / 1000) : 0);
        cpuPerMB.push((daemon.cpuMs() - cpuBefore) / mb);
        lost += bytes - countEqualPrefix(await readRegion(rawFile, run * bytes, bytes), expected);
      }
    } finally {
      await daemon.stop();
    }
    extra = Math.max(0, (await stat(rawFile)).size - runs * bytes);
    await rm(daemon.dir, { recursive: true, force: true }); // 4 x 64 MB of capture per bench run
  } finally {
    peer.child.kill("SIGKILL");
  }
  const warm = (samples: number[]): number[] => (samples.length > 1 ? samples.slice(1) : samples);
  ctx.rows.push({
    case: "3b",
    name: `capture ceiling, ${mb} MB telnet stream`,
    unit: "MB/s",
    bottleneck: "daemon",
    figures: figures(warm(daemonMBs)),
    baseline: { name: "raw socket reader, same peer", figures: figures(warm(rawMBs)) },
    extra: {
      cpuMsPerMB: figures(warm(cpuPerMB)),
      firstRun: { daemonMBs: daemonMBs[0], rawMBs: rawMBs[0], cpuMsPerMB: cpuPerMB[0] },
      lostBytes: lost,
      extraBytes: extra,
      goal: ">= 0.9x the raw reader, 0 lost",
      load: [loadAtStart, load()],
    },
  });
  console.log(
    `    daemon CPU ${figures(warm(cpuPerMB)).median.toFixed(1)} ms per MB (first run ${cpuPerMB[0]?.toFixed(1)}, ` +
      `${daemonMBs[0]?.toFixed(0)} vs raw ${rawMBs[0]?.toFixed(0)} MB/s); bytes lost ${lost}, extra ${extra}`,
  );
}

function countEqualPrefix(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i += 65536) {
    const end = Math.min(n, i + 65536);
    if (!a.subarray(i, end).equals(b.subarray(i, end))) {
      let j = i;
      while (j < end && a[j] === b[j]) j += 1;
      return j;
    }
  }
  return n;
}
