/**
 * A local UART or USB-serial adapter through `serialport` (this file and tty-binding.ts, which moves
 * its reads and writes off libuv's thread pool, are the only ones that import it).
 *
 *   open:  realpath(path) ─> stat (a pty cannot carry a BREAK) ─> UUCP lock (uucp-lock.ts)
 *          ─> open, hupcl off ─> set(dtr, rts)
 *   close: close ─> UUCP lock released (also when the device goes away)
 *   BREAK: drain ─> set(brk on, dtr, rts) ─> hold ─> set(brk off, dtr, rts)
 *          (held: setBreak(true) ... setBreak(false), the sender decides how long)
 *   line:  baud ─> drain ─> update(baudRate);  DTR/RTS ─> set(brk, dtr, rts)
 *
 * serialport's set() fills every line it is not given with a default (DTR and RTS high), which
 * resets many boards: the DTR/RTS levels in effect (configured, or applied since) and the BREAK
 * state are passed on every call. serialport cannot change the framing or flow control of an open
 * port, so those stay as configured.
 */
import { constants as fsConstants } from "node:fs";
import { access, realpath, stat } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { SerialPortStream } from "@serialport/stream";
import type { TtyTransportConfig } from "../config/types.js";
import {
  TransportOpenError,
  type BreakCapability,
  type LineChange,
  type LineControl,
  type ModemLines,
  type SerialLine,
  type Transport,
  type TransportContext,
  type TransportSink,
} from "./transport.js";
import { eventLoopBinding } from "./tty-binding.js";
import { acquireUucpLock, type UucpLock } from "./uucp-lock.js";

/** Unix98 pty slaves (/dev/pts/N) have majors 136-143; BSD-style ptys 2 and 3; /dev/ptmx is 5:2. */
export function isPseudoTerminal(rdev: number): boolean {
  const major = ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
  return (major >= 136 && major <= 143) || major === 2 || major === 3 || (major === 5 && minor === 2);
}

/** What serialport's set() says when TIOCMSET meets a pty (no modem lines): ENOTTY. */
const NO_MODEM_LINES = /inappropriate ioctl/i;

const PTY_REASON =
  "a pseudo-terminal silently drops BREAK (the ioctl succeeds and nothing reaches the reader)";

function openErrorCode(message: string): string {
  if (/permission denied/i.test(message)) return "EACCES";
  if (/no such file/i.test(message)) return "ENOENT";
  if (/lock|resource temporarily unavailable|busy/i.test(message)) return "EBUSY";
  return "EIO";
}

function promisify(run: (done: (err: Error | null | undefined) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((err) => (err ? reject(err) : resolve())));
}

function fixedWhileOpen(what: string, key: string): Error {
  return new Error(`serialport cannot change ${what} of an open port; set ${key} in the port's config`);
}

export class TtyTransport implements Transport {
  readonly kind = "tty" as const;
  readonly target: string;
  private port: SerialPortStream | null = null;
  private lock: UucpLock | null = null;
  private lockReleased: Promise<void> = Promise.resolve();
  private capability: BreakCapability = { available: true, method: "tty-ioctl" };
  private isPty = false;
  /** The line in effect: the configuration, then what apply() changed. */
  private settings: SerialLine;
  private breakOn = false;
  readonly line: LineControl = {
    current: () => this.settings,
    apply: (change) => this.applyLine(change),
  };

  constructor(
    private readonly config: TtyTransportConfig,
    private readonly context: TransportContext = {},
  ) {
    const d = config.device;
    this.target = "path" in d ? d.path : `QEMU chardev ${d.qmpChardev}`;
    this.settings = TtyTransport.configured(config);
  }

  private static configured(config: TtyTransportConfig): SerialLine {
    return {
      baudRate: config.baudRate,
      dataBits: config.dataBits,
      parity: config.parity,
      stopBits: config.stopBits,
      flowControl: config.rtscts ? "rtscts" : "none",
      dtr: config.dtr,
      rts: config.rts,
    };
  }

  /** The configured path, or the pty QEMU gave the chardev this time (ptys change on every start). */
  private async configuredPath(): Promise<string> {
    const d = this.config.device;
    if ("path" in d) return d.path;
    const resolveChardevPath = this.context.resolveChardevPath;
    if (!resolveChardevPath)
      throw new TransportOpenError("EINVAL", `no QMP to resolve chardev ${d.qmpChardev}`);
    try {
      return await resolveChardevPath(d.qmpChardev);
    } catch (err) {
      throw new TransportOpenError("ENOENT", `chardev ${d.qmpChardev}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async open(sink: TransportSink): Promise<void> {
    const device = await this.resolveDevice();
    await this.takeLock(device);
    try {
      await this.openDevice(device, sink);
    } catch (err) {
      await this.releaseLock();
      throw err;
    }
  }

  /**
   * The UUCP lock minicom and picocom honour. A device they hold rejects with DeviceLockedError (the
   * port shows it as `locked`); a lock directory we cannot write in only costs the lock.
   */
  private async takeLock(device: string): Promise<void> {
    const dir = this.config.lockDir;
    if (dir === null) return;
    const lock = await acquireUucpLock(dir, device);
    if ("skipped" in lock) {
      this.context.log?.warnOnce(
        `uucp-lock:${dir}`,
        { lockDir: dir, reason: lock.skipped },
        "opening without a UUCP lock file",
      );
      return;
    }
    if (lock.replacedStalePid !== undefined) {
      this.context.log?.info(
        { file: lock.file, stalePid: lock.replacedStalePid },
        "removed a stale UUCP lock",
      );
    }
    this.lock = lock;
  }

  /** Idempotent: the close event and close() both call it, and both wait for the same unlink. */
  private releaseLock(): Promise<void> {
    const lock = this.lock;
    this.lock = null;
    if (lock) this.lockReleased = lock.release().catch(() => undefined);
    return this.lockReleased;
  }

  private async openDevice(device: string, sink: TransportSink): Promise<void> {
    this.settings = TtyTransport.configured(this.config);
    this.breakOn = false;
    const port = new SerialPortStream({
      binding: eventLoopBinding,
      path: device,
      baudRate: this.config.baudRate,
      dataBits: this.config.dataBits,
      parity: this.config.parity,
      stopBits: this.config.stopBits,
      rtscts: this.config.rtscts,
      hupcl: this.config.hupcl,
      autoOpen: false,
      lock: true,
    });
    try {
      await promisify((done) => port.open(done));
    } catch (err) {
      const message = (err as Error).message;
      throw new TransportOpenError(openErrorCode(message), `cannot open ${device}: ${message}`, {
        cause: err,
      });
    }
    this.port = port;
    port.on("data", (chunk: Buffer) => sink.data(chunk));
    port.on("error", () => {
      /* surfaced through 'close' or the failing call */
    });
    port.on("close", (err: (Error & { disconnected?: boolean }) | null) => {
      if (this.port === port) this.port = null;
      void this.releaseLock();
      // serialport passes an error (with disconnected: true) only when the device went away.
      sink.closed(err ? { disconnected: true, error: err } : { disconnected: false });
    });
    // Pin the modem lines to the configured levels right away, so nothing later flips them.
    // A pty has no modem lines (TIOCMSET fails there), and no BREAK either.
    if (this.isPty) return;
    try {
      await this.setLines(port);
    } catch (err) {
      this.port = null;
      await promisify((done) => port.close(done)).catch(() => undefined);
      throw new TransportOpenError("EIO", `cannot set DTR/RTS on ${device}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Follows links on every open (by-id links move between ttyUSB numbers) and checks access. */
  private async resolveDevice(): Promise<string> {
    const configured = await this.configuredPath();
    let device: string;
    try {
      device = await realpath(configured);
      await access(device, fsConstants.R_OK | fsConstants.W_OK);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const code = e.code ?? "EIO";
      const what = code === "ENOENT" ? "waiting for the device to appear" : e.message;
      throw new TransportOpenError(code, `${configured}: ${what}`, { cause: err });
    }
    const info = await stat(device);
    this.isPty = isPseudoTerminal(info.rdev);
    this.capability = this.isPty
      ? { available: false, reason: `${device} is ${PTY_REASON}` }
      : { available: true, method: "tty-ioctl" };
    return device;
  }

  /** The whole line state, every time: the BREAK as it is and the DTR/RTS levels in effect. */
  private setLines(
    port: SerialPortStream,
    lines: Pick<SerialLine, "dtr" | "rts"> = this.settings,
  ): Promise<void> {
    return promisify((done) => port.set({ brk: this.breakOn, dtr: lines.dtr, rts: lines.rts }, done));
  }

  async modemLines(): Promise<ModemLines> {
    const port = this.requirePort();
    // serialport's get() is TIOCMGET without RI: reported off
    const status = await new Promise<{ cts: boolean; dsr: boolean; dcd: boolean }>((resolve, reject) =>
      port.get((err, got) => (err || !got ? reject(err ?? new Error("no modem status")) : resolve(got))),
    );
    return { cts: status.cts, dsr: status.dsr, ri: false, cd: status.dcd };
  }

  private requirePort(): SerialPortStream {
    if (!this.port) throw new Error(`${this.target} is not open`);
    return this.port;
  }

  async write(data: Uint8Array): Promise<void> {
    const port = this.requirePort();
    await promisify((done) => port.write(Buffer.from(data.buffer, data.byteOffset, data.byteLength), done));
    await promisify((done) => port.drain(done));
  }

  async sendBreak(holdMs: number): Promise<void> {
    await this.setBreak(true);
    try {
      await sleep(holdMs);
    } finally {
      await this.setBreak(false);
    }
  }

  /**
   * TIOCSBRK / TIOCCBRK (through set(), with the modem lines in effect). A pty takes both and
   * ignores them; only its TIOCMSET fails (ENOTTY: no modem lines), which is no error here.
   */
  async setBreak(on: boolean): Promise<void> {
    const port = this.requirePort();
    if (on) await promisify((done) => port.drain(done));
    this.breakOn = on;
    try {
      await this.setLines(port);
    } catch (err) {
      if (!(this.isPty && NO_MODEM_LINES.test((err as Error).message))) throw err;
    }
  }

  private async applyLine(change: LineChange): Promise<void> {
    const port = this.requirePort();
    const now = this.settings;
    switch (change.setting) {
      case "baudrate": {
        if (change.baudRate === now.baudRate) return;
        await promisify((done) => port.drain(done));
        await promisify((done) => port.update({ baudRate: change.baudRate }, done));
        this.settings = { ...now, baudRate: change.baudRate };
        return;
      }
      case "dtr":
      case "rts": {
        if (now[change.setting] === change.on) return;
        if (this.isPty) throw new Error("a pseudo-terminal has no modem lines");
        const lines = { dtr: now.dtr, rts: now.rts, [change.setting]: change.on };
        await this.setLines(port, lines);
        this.settings = { ...now, ...lines };
        return;
      }
      case "datasize":
        if (change.dataBits === now.dataBits) return;
        throw fixedWhileOpen("the data size", "dataBits");
      case "parity":
        if (change.parity === now.parity) return;
        throw fixedWhileOpen("the parity", "parity");
      case "stopsize":
        if (change.stopBits === now.stopBits) return;
        throw fixedWhileOpen("the stop size", "stopBits");
      case "outbound flow":
      case "inbound flow":
        if (change.flow === now.flowControl) return;
        throw fixedWhileOpen("flow control", "rtscts");
    }
  }

  breakCapability(): BreakCapability {
    return this.capability;
  }

  async close(): Promise<void> {
    const port = this.port;
    if (port?.isOpen) await promisify((done) => port.close(done));
    await this.releaseLock();
  }
}
