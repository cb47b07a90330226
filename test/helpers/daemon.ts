/** Starts the daemon in-process for tests, with a temporary capture folder and a silent logger. */
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { pino, type DestinationStream } from "pino";
import { resolveConfig } from "../../src/config/load.js";
import { startDaemon, type Daemon } from "../../src/daemon/daemon.js";
import { createStreamLogger } from "../../src/logger.js";
import type { TransportFactory } from "../../src/transports/create.js";
import type { FakeKernel } from "../kit/index.js";
import type { EventLimits } from "../../src/recovery/events.js";

export interface TestDaemonOptions {
  readonly ports: unknown[];
  readonly createTransport?: TransportFactory;
  readonly listen?: boolean;
  readonly captureDir?: string;
  /** More top-level config keys (auth, audit, rateLimit, ...). */
  readonly config?: Record<string, unknown>;
  /** Where the daemon's pino lines go (silent by default). */
  readonly logStream?: DestinationStream;
  /** The ports a reload (POST /reload) reads, as a config file would hold them; absent: reloads are refused. */
  readonly reloadPorts?: () => unknown[];
  /** GET /events' bounds, lowered to reach them quickly. */
  readonly events?: Partial<EventLimits>;
}

export async function startTestDaemon(options: TestDaemonOptions): Promise<Daemon & { captureDir: string }> {
  const captureDir = options.captureDir ?? (await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-test-")));
  const configOf = (ports: unknown[]) =>
    resolveConfig({ listen: { host: "127.0.0.1", port: 0 }, captureDir, ports, ...options.config }, "/");
  const config = configOf(options.ports);
  const reloadPorts = options.reloadPorts;
  const logger = options.logStream
    ? createStreamLogger("trace", options.logStream)
    : pino({ level: process.env["TEST_LOG_LEVEL"] ?? "silent" });
  const daemon = await startDaemon({
    config,
    logger,
    listen: options.listen ?? false,
    ...(options.createTransport ? { createTransport: options.createTransport } : {}),
    ...(options.events ? { events: options.events } : {}),
    ...(reloadPorts ? { loadConfig: () => Promise.resolve().then(() => configOf(reloadPorts())) } : {}),
  });
  return Object.assign(daemon, { captureDir });
}

/** A daemon whose one port, vm0 (telnet kind), is wired to `kernel`; returns once that port is open. */
export async function startFakeKernelDaemon(
  kernel: FakeKernel,
  options: Omit<TestDaemonOptions, "ports" | "createTransport"> = {},
): Promise<Daemon & { captureDir: string }> {
  const daemon = await startTestDaemon({
    ...options,
    ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
    createTransport: kernel.factory,
  });
  await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
  return daemon;
}

export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
