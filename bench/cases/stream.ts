/**
 * Case 3b: the daemon's own capture ceiling. A telnet peer (a child process, so its CPU is not the
 * daemon's) streams a known byte pattern as fast as the socket takes it; the daemon captures it, and
 * a raw socket reader of the same peer is the baseline. Throughput is MB/s from the peer's go to the
 * last byte (in the file, for the daemon); the daemon's CPU per MB comes from /proc. Zero bytes may be lost:
 * the capture is compared with the pattern byte for byte.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startDaemonProcess } from "../daemon-process.js";
import { figures, load, pause, type BenchContext } from "../stats.js";
import { streamPattern, telnetEscaped } from "../peers/pattern.js";

const PEER = fileURLToPath(new URL("../peers/stream-peer.ts", import.meta.url));

interface Peer {
  readonly port: number;
  readonly child: ChildProcess;
  /** Starts streaming to the newest connection. */
  go(): void;
  /** Resolves once a connection has reached the peer. */
  connected(): Promise<void>;
}

/** Starts the peer process; it serves `bytes` of the pattern to a connection on each go(). */
async function startPeer(bytes: number): Promise<Peer> {
  const child = spawn(process.execPath, ["--import", "tsx", PEER, String(bytes)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`stream peer exited (${code})`)));
  });
  return {
    port,
    child,
    go: () => child.stdin?.write("go\n"),
    connected: () => pause(300),
  };
}

async function rawRead(peer: Peer, wireBytes: number): Promise<{ ms: number }> {
  const socket = net.connect({ host: "127.0.0.1", port: peer.port });
  await new Promise((resolve) => socket.once("connect", resolve));
  await peer.connected();
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
  return { ms };
}

export async function streamCase(ctx: BenchContext): Promise<void> {
  const bytes = (ctx.smoke ? 4 : 64) * 1024 * 1024;
  const runs = ctx.smoke ? 1 : 3;
  const peer = await startPeer(bytes);
  const expected = streamPattern(bytes);
  const wireBytes = telnetEscaped(expected).length;
  const daemonMBs: number[] = [];
  const rawMBs: number[] = [];
  const cpuPerMB: number[] = [];
  const loadAtStart = load();
  const mb = bytes / 1048576;
  let lost = 0;
  try {
    for (let run = 0; run < runs; run += 1) {
      rawMBs.push(mb / ((await rawRead(peer, wireBytes)).ms / 1000));
      const daemon = await startDaemonProcess({
        ports: [
          { id: "s0", transport: { kind: "telnet", host: "127.0.0.1", port: peer.port, mode: "standard" } },
        ],
        capture: { rotateBytes: 2 ** 32, maxTotalBytes: 2 ** 34 },
      });
      try {
        await peer.connected();
        const rawFile = path.join(daemon.dir, "capture", "s0.raw");
        const cpuBefore = daemon.cpuMs();
        const start = performance.now();
        peer.go();
        // Done when the last byte is in the file, not merely received.
        while ((await stat(rawFile)).size < bytes) await pause(2);
        daemonMBs.push(mb / ((performance.now() - start) / 1000));
        cpuPerMB.push((daemon.cpuMs() - cpuBefore) / mb);
        lost += bytes - countEqualPrefix(await readFile(rawFile), expected);
      } finally {
        await daemon.stop();
      }
    }
  } finally {
    peer.child.kill("SIGKILL");
  }
  ctx.rows.push({
    case: "3b",
    name: `capture ceiling, ${mb} MB telnet stream`,
    unit: "MB/s",
    bottleneck: "daemon",
    figures: figures(daemonMBs),
    baseline: { name: "raw socket reader, same peer", figures: figures(rawMBs) },
    extra: {
      cpuMsPerMB: figures(cpuPerMB),
      lostBytes: lost,
      goal: ">= 0.9x the raw reader, 0 lost",
      load: [loadAtStart, load()],
    },
  });
  console.log(`    daemon CPU ${figures(cpuPerMB).median.toFixed(1)} ms per MB; bytes lost ${lost}`);
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
