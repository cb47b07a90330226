/**
 * Webhook delivery latency on a healthy receiver (issue 17: p99 <= 1 s), measured outside the test
 * suite: the built daemon on a socat pty, a receiver in this process. Each round writes a kernel
 * panic line to the pty and times it until the receiver holds the signed `incident.opened` POST
 * (so the figure includes line detection and the journal's fsync), then waits for the incident to
 * close. Also prints the daemon's own histogram (event to 2xx).
 *
 * Usage: npm run build && tsx bench/webhook-latency.ts [rounds]   (default 40)
 */
import http from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { listening, run } from "../test/helpers/bin.js";
import { waitUntil } from "../test/helpers/daemon.js";
import { startPtyPair, TargetSide } from "../test/helpers/socat.js";
import { freeTcpPort } from "../test/kit/index.js";

const rounds = Number(process.argv[2] ?? 40);
const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-webhook-bench-"));
const pty = await startPtyPair(path.join(dir, "dev"), path.join(dir, "target"));
const target = new TargetSide(pty.targetSide);
const received: number[] = [];
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    received.push(performance.now());
    res.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const hookPort = (server.address() as { port: number }).port;
const httpPort = await freeTcpPort();
process.env["SYSRQ_BENCH_WEBHOOK_SECRET"] = "bench-webhook-secret-0123456789";
const config = path.join(dir, "config.yaml");
await writeFile(
  config,
  `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nlockDir: false\nlog: { level: warn }\n` +
    `ports:\n  - id: pty0\n    transport: { kind: tty, path: ${pty.daemonSide} }\n    watch: { quietMs: 1000 }\n` +
    `webhooks:\n  - url: http://127.0.0.1:${hookPort}/hook\n    secretEnv: SYSRQ_BENCH_WEBHOOK_SECRET\n    events: [incident.opened]\n`,
);
const daemon = run(["--config", config]);
try {
  await listening(daemon, httpPort, 20_000);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const latencies: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const before = received.length;
    const sent = performance.now();
    target.write(
      Buffer.from(`[${(10 + i * 2).toFixed(6).padStart(12)}] Kernel panic - not syncing: bench ${i}\r\n`),
    );
    await waitUntil(() => received.length > before, 10_000, `delivery ${i}`);
    latencies.push(received[before]! - sent);
    await new Promise((resolve) => setTimeout(resolve, 1300)); // the incident closes (quietMs)
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
  console.log(
    `panic line -> signed POST at the receiver, ${rounds} rounds: p50 ${at(0.5).toFixed(1)} ms, ` +
      `p99 ${at(0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
  );
  const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  for (const line of metrics.split("\n"))
    if (
      /^sysrq_bridge_webhook_delivery_seconds_(bucket\{.*le="(0\.005|0\.01|0\.025|0\.05|0\.1|1)"|sum|count)/.test(
        line,
      )
    )
      console.log(line);
} finally {
  daemon.child.kill("SIGTERM");
  await daemon.exited;
  target.close();
  await pty.stop();
  server.close();
  await rm(dir, { recursive: true, force: true });
}
