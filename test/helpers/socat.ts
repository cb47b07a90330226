/** A real pty pair from socat: the daemon opens one end as a tty, the test plays the target on the other. */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, constants, existsSync, openSync, writeSync } from "node:fs";
import tty from "node:tty";
import { waitUntil } from "./daemon.js";

export interface PtyPair {
  readonly daemonSide: string;
  readonly targetSide: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export async function startPtyPair(daemonSide: string, targetSide: string): Promise<PtyPair> {
  const child = spawn("socat", [`pty,raw,echo=0,link=${daemonSide}`, `pty,raw,echo=0,link=${targetSide}`], {
    stdio: "ignore",
  });
  await waitUntil(() => existsSync(daemonSide) && existsSync(targetSide), 5000, "socat ptys");
  return {
    daemonSide,
    targetSide,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGKILL");
      }),
  };
}

/**
 * The target's end of the pair. Reads go through a tty stream (libuv polls it; a plain fs read on a
 * pty would block a thread-pool thread until data came), writes are synchronous.
 */
export class TargetSide {
  private readonly fd: number;
  private readonly reader: tty.ReadStream;
  private readonly received: Buffer[] = [];

  constructor(path: string) {
    this.fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
    this.reader = new tty.ReadStream(this.fd);
    this.reader.on("data", (chunk: Buffer | string) => this.received.push(Buffer.from(chunk)));
  }

  /** Everything the daemon wrote to the line so far. */
  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  write(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd, data, offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      }
    }
  }

  close(): void {
    this.reader.destroy();
    try {
      closeSync(this.fd);
    } catch {
      /* already closed with the stream */
    }
  }
}
