/**
 * serialport's Linux binding, with console reads and writes done on the event loop.
 *
 * The stock binding reads and writes through libuv's thread pool (4 threads), which every disk
 * write, fdatasync and realpath of the daemon shares: with the disk slow, console bytes waited
 * behind them and a vanished tty went unnoticed for seconds. The device is opened non-blocking,
 * so a read or write here returns at once (bytes, or EAGAIN and a wait on the binding's poller).
 * Opening, BREAK, modem lines and drain stay with the stock binding.
 */
import { readSync, writeSync } from "node:fs";
import {
  BindingsError,
  LinuxBinding,
  type LinuxBindingInterface,
  type LinuxPortBinding,
} from "@serialport/bindings-cpp";

type ReadResult = { buffer: Buffer; bytesRead: number };

function retryable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "EAGAIN" || code === "EWOULDBLOCK" || code === "EINTR";
}

function notOpen(): BindingsError {
  return new BindingsError("Port is not open", { canceled: true });
}

/** Resolves when the poller says the fd is ready, rejects (canceled) when the port closes meanwhile. */
function ready(port: LinuxPortBinding, event: "readable" | "writable"): Promise<void> {
  return new Promise((resolve, reject) => port.poller.once(event, (err) => (err ? reject(err) : resolve())));
}

async function readNow(
  port: LinuxPortBinding,
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<ReadResult> {
  let polled = false;
  for (;;) {
    if (port.fd === null || !port.isOpen) throw notOpen();
    let bytesRead: number;
    try {
      bytesRead = readSync(port.fd, buffer, offset, length, null);
    } catch (err) {
      if (!retryable(err)) throw err; // EIO, ENXIO ...: the stream takes any error as a disconnect
      await ready(port, "readable");
      polled = true;
      continue;
    }
    if (bytesRead > 0) return { buffer, bytesRead };
    // 0 bytes with VMIN 0 (a peer may set it: the termios is the tty's) is "nothing yet", unless
    // poll had just said readable: then it is a hang-up, which would otherwise wake us forever.
    if (polled) throw Object.assign(new Error("the device hung up"), { code: "EIO" });
    await ready(port, "readable");
    polled = true;
  }
}

async function writeNow(port: LinuxPortBinding, buffer: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buffer.length) {
    if (port.fd === null || !port.isOpen) throw notOpen();
    try {
      offset += writeSync(port.fd, buffer, offset, buffer.length - offset);
    } catch (err) {
      if (!retryable(err)) throw err;
      await ready(port, "writable");
    }
  }
}

/** Opens ports with the stock binding, then moves their reads and writes onto the event loop. */
export const eventLoopBinding: LinuxBindingInterface = {
  list: () => LinuxBinding.list(),
  async open(options) {
    const port = await LinuxBinding.open(options);
    const stockDrain = port.drain.bind(port);
    let writing: Promise<void> = Promise.resolve();
    port.read = (buffer, offset, length) => readNow(port, buffer, offset, length);
    port.write = (buffer) => {
      writing = writeNow(port, buffer);
      return writing;
    };
    // drain (tcdrain) must not start before the bytes of a write still waiting for room are queued.
    port.drain = async () => {
      await writing.catch(() => undefined);
      return stockDrain();
    };
    return port;
  },
};
