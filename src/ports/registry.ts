/** All configured ports by id, built from config; the only way the API reaches a port. */
import { accessSync, constants, mkdirSync } from "node:fs";
import type { Logger } from "pino";
import type { BridgeConfig } from "../config/types.js";
import { BridgeError } from "../errors.js";
import type { Clock } from "../sysrq/console.js";
import type { TransportFactory } from "../transports/create.js";
import { QmpClient } from "../control/qmp.js";
import { RedfishClient } from "../control/redfish.js";
import { Capture } from "./capture.js";
import { CAPTURE_DIR_MODE, listCaptureDir } from "./capture-segments.js";
import { Port } from "./port.js";

export interface RegistryDeps {
  readonly createTransport: TransportFactory;
  readonly clock: Clock;
  readonly log: Logger;
}

export class PortRegistry {
  private constructor(private readonly ports: ReadonlyMap<string, Port>) {}

  static async create(config: BridgeConfig, deps: RegistryDeps): Promise<PortRegistry> {
    // Captures open concurrently: with hundreds of ports, one at a time dominated start-up. The
    // directory is made and listed once for all of them (once per port grew with the square of the ports).
    writableDir(config.captureDir);
    const dirNames = listCaptureDir(config.captureDir);
    const entries = await Promise.all(
      config.ports.map(async (portConfig) => {
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
        return [portConfig.id, new Port(portConfig, portDeps)] as const;
      }),
    );
    const ports = new Map<string, Port>(entries);
    return new PortRegistry(ports);
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
