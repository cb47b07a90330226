/** All configured ports by id, built from config; the only way the API reaches a port. */
import { accessSync, constants, mkdirSync } from "node:fs";
import type { Logger } from "pino";
import type { BridgeConfig, PortConfig } from "../config/types.js";
import { BridgeError } from "../errors.js";
import type { Clock } from "../clock.js";
import type { TransportFactory } from "../transports/create.js";
import { QmpClient } from "../control/qmp.js";
import { RedfishClient } from "../control/redfish.js";
import { Capture, type CaptureOptions } from "../capture/capture.js";
import { CAPTURE_DIR_MODE, listCaptureDir } from "../capture/capture-segments.js";
import { Port } from "./port.js";

export interface RegistryDeps {
  readonly createTransport: TransportFactory;
  readonly clock: Clock;
  readonly log: Logger;
}

export class PortRegistry {
  private readonly replaceListeners = new Set<() => void>();

  private constructor(
    private ports: ReadonlyMap<string, Port>,
    private readonly deps: RegistryDeps,
  ) {}

  static async create(config: BridgeConfig, deps: RegistryDeps): Promise<PortRegistry> {
    // Made and listed once for all ports, not once per port (see docs/performance.md).
    writableDir(config.captureDir);
    const opened = await openPorts(config, config.ports, deps, listCaptureDir(config.captureDir));
    return new PortRegistry(new Map(opened.map((port) => [port.id, port])), deps);
  }

  /**
   * A reload's ports: `stopped` ids are stopped (in-flight work finishes, bounded by graceMs), then
   * `started` ones open and start; the others are not touched. The ports are listed in the new order.
   */
  async replace(
    config: BridgeConfig,
    change: { readonly stopped: readonly string[]; readonly started: readonly PortConfig[] },
    graceMs: number,
  ): Promise<void> {
    const stopping = change.stopped.map((id) => this.get(id));
    const idle = Promise.all(stopping.map((port) => port.idle()));
    await Promise.race([idle, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    await Promise.all(stopping.map((port) => port.stop()));
    const gone = new Set(change.stopped);
    const kept = new Map([...this.ports].filter(([id]) => !gone.has(id)));
    // A port's new capture picks up where its old one stopped (the restart leaves a gap record).
    const opened = await openPorts(config, change.started, this.deps, listCaptureDir(config.captureDir));
    for (const port of opened) kept.set(port.id, port);
    this.ports = new Map(config.ports.map((port) => [port.id, kept.get(port.id) as Port]));
    for (const port of opened) port.start();
    for (const listener of this.replaceListeners) listener();
  }

  /** Calls `listener` after each reload's replace (ports removed, added or restarted); returns the unsubscribe. */
  onReplace(listener: () => void): () => void {
    this.replaceListeners.add(listener);
    return () => this.replaceListeners.delete(listener);
  }

  list(): Port[] {
    return [...this.ports.values()];
  }

  /** The port with this id, or PORT_NOT_FOUND: ids come only from config. */
  get(id: string): Port {
    const port = this.ports.get(id);
    if (!port)
      throw new BridgeError("PORT_NOT_FOUND", `no port "${id}" is configured; GET /ports lists them`);
    return port;
  }

  startAll(): void {
    for (const port of this.ports.values()) port.start();
  }

  /** Lets in-flight requests finish (bounded by graceMs), then closes links and flushes captures. */
  async stopAll(graceMs: number): Promise<void> {
    const idle = Promise.all(this.list().map((port) => port.idle()));
    await Promise.race([idle, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    await Promise.all(this.list().map((port) => port.stop()));
  }
}

/** Opens the captures of `ports` concurrently: with hundreds of ports, one at a time dominated start-up. */
async function openPorts(
  config: BridgeConfig,
  ports: readonly PortConfig[],
  deps: RegistryDeps,
  dirNames: CaptureOptions["dirNames"],
): Promise<Port[]> {
  return Promise.all(
    ports.map(async (portConfig) => {
      const log = deps.log.child({ port: portConfig.id });
      const capture = await Capture.open(config.captureDir, portConfig.id, {
        retainLines: config.retainLines,
        rotation: config.capture,
        log,
        dirNames,
      });
      const qmp = portConfig.qmp ? new QmpClient(portConfig.qmp) : null;
      const redfish = portConfig.nmi?.kind === "redfish" ? new RedfishClient(portConfig.nmi) : null;
      const portDeps = {
        createTransport: deps.createTransport,
        capture,
        clock: deps.clock,
        log,
        qmp,
        redfish,
      };
      return new Port(portConfig, portDeps);
    }),
  );
}

/** Makes the capture folder; one that cannot be written (a read-only mount) is a clear start-up error. */
function writableDir(dir: string): void {
  let step = "cannot be created";
  try {
    mkdirSync(dir, { recursive: true, mode: CAPTURE_DIR_MODE });
    step = "is not writable";
    accessSync(dir, constants.W_OK); // root passes mode bits, not a read-only mount (EROFS)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "EIO";
    throw new BridgeError("CONFIG_INVALID", `captureDir ${dir} ${step} (${code})`, { cause: err });
  }
}
