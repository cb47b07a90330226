/**
 * Real-kernel test target: a tiny Debian cloud kernel + busybox initramfs
 * booted under QEMU (TCG), with its 16550 serial port (ttyS0, also the kernel
 * console) exposed as a telnet-mode TCP server on 127.0.0.1.
 *
 * A telnet `IAC BRK` (0xFF 0xF3) sent to that port makes QEMU raise a serial
 * BREAK on the guest UART, so `IAC BRK` followed by a key triggers Magic SysRq.
 *
 * The image is built/cached by ./build-guest.sh (outside the repo). Its initramfs carries kernel
 * modules from the kernel's own package (loop, pvpanic) and ./spin-module/'s test module, built
 * against that kernel's exact headers when gcc, make and the headers are installed: guestModules().
 * Linux-only (reads /proc/net/tcp and /proc/<pid>/fd to detect that QEMU is listening).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readdir, readFile, readlink } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const READY_MARKER = "SYSRQ-BRIDGE-GUEST-READY";

export interface GuestOptions {
  /** extra kernel command line words, e.g. ["sysctl.kernel.sysrq=438"] or ["sysrq_always_enabled=1"] */
  append?: string[];
  /** TCP port on 127.0.0.1 for the telnet-mode serial chardev; default: pick a free one */
  telnetPort?: number;
  /** path for QEMU's chardev logfile= (everything the guest printed) ; default: a temp file */
  logfile?: string;
  /** extra qemu args */
  extraArgs?: string[];
  memoryMb?: number; // default 256
  /**
   * telnet (default): the serial chardev is a telnet server on telnetPort.
   * pty: the serial chardev is `-chardev pty,id=s0` (its /dev/pts path is QEMU's to choose: ask QMP).
   */
  serial?: "telnet" | "pty";
  /**
   * telnet only: QEMU's chardev socket sends without Nagle (`nodelay=on`). Without it, an answer that
   * follows a small unacknowledged write (the telnet opening, the last answer) waits for the client's
   * delayed ACK: a BREAK sent within ~50 ms of one is answered in ~42 ms instead of 2-8.
   */
  nodelay?: boolean;
  /** let the guest reboot in place (no -no-reboot): a SysRq b then boots a new kernel on the same port */
  reboot?: boolean;
  /** kernel/initrd to boot; default: whatever ensureGuestImage() returns */
  image?: { kernel: string; initrd: string };
}

export interface Guest {
  readonly telnetPort: number;
  readonly logfile: string;
  readonly pid: number;
  /** resolves with exit code/signal when qemu exits */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** kill qemu (SIGKILL after a grace period), idempotent */
  stop(): Promise<void>;
}

type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };

const BUILD_SCRIPT = fileURLToPath(new URL("./build-guest.sh", import.meta.url));
const QEMU = process.env["SYSRQ_BRIDGE_QEMU"] ?? "qemu-system-x86_64";
const STOP_GRACE_MS = 2000;
const LISTEN_TIMEOUT_MS = 10_000;

let imagePromise: Promise<{ kernel: string; initrd: string }> | undefined;

/**
 * Runs build-guest.sh (stderr inherited) and returns the image paths.
 * Cheap (~20 ms) once the image is cached; the result is memoized per process.
 */
export function ensureGuestImage(): Promise<{ kernel: string; initrd: string }> {
  imagePromise ??= runBuildScript().catch((err: unknown) => {
    imagePromise = undefined;
    throw err;
  });
  return imagePromise;
}

function runBuildScript(): Promise<{ kernel: string; initrd: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      out += chunk;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code !== 0) {
        reject(new Error(`build-guest.sh failed (code=${String(code)}, signal=${String(signal)})`));
        return;
      }
      const lines = out.split("\n").filter((l) => l.trim() !== "");
      const kernel = lines[lines.length - 2];
      const initrd = lines[lines.length - 1];
      if (kernel === undefined || initrd === undefined) {
        reject(new Error(`build-guest.sh printed unexpected output: ${JSON.stringify(out)}`));
        return;
      }
      resolve({ kernel, initrd });
    });
  });
}

/** The modules the guest's initramfs carries, and why any it should carry was left out. */
export interface GuestModules {
  /** module name (as the kernel names it: pvpanic_mmio) -> its path inside the guest */
  readonly paths: ReadonlyMap<string, string>;
  /** module name -> why build-guest.sh left it out (e.g. the headers package it lacked) */
  readonly missing: ReadonlyMap<string, string>;
}

/** Reads the modules.txt build-guest.sh writes beside the initramfs (`NAME PATH` or `NAME - REASON`). */
export async function guestModules(image?: { initrd: string }): Promise<GuestModules> {
  const { initrd } = image ?? (await ensureGuestImage());
  const paths = new Map<string, string>();
  const missing = new Map<string, string>();
  for (const line of (await readFile(join(dirname(initrd), "modules.txt"), "utf8")).split("\n")) {
    const [name, where, ...reason] = line.trim().split(" ");
    if (name === undefined || name === "" || where === undefined) continue;
    if (where === "-") missing.set(name, reason.join(" "));
    else paths.set(name, where);
  }
  return { paths, missing };
}

/** Asks the OS for a currently free TCP port on 127.0.0.1 (inherently racy; startGuest retries). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("could not determine free port"));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `path` (read as latin1) until its content matches `pattern`. Missing file counts as empty. */
export async function waitForFile(path: string, pattern: string | RegExp, timeoutMs: number): Promise<void> {
  const re =
    typeof pattern === "string" ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
  const matches = (s: string): boolean => (re === undefined ? s.includes(pattern as string) : re.test(s));
  const deadline = Date.now() + timeoutMs;
  let content = "";
  for (;;) {
    try {
      content = await readFile(path, "latin1");
    } catch (err: unknown) {
      if (!(err instanceof Error && (err as NodeJS.ErrnoException).code === "ENOENT")) throw err;
      content = "";
    }
    if (matches(content)) return;
    if (Date.now() >= deadline) {
      const tail = content.slice(-2000);
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${String(pattern)} in ${path}; last output:\n${tail}`,
      );
    }
    await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
  }
}

/**
 * True if process `pid` owns a socket LISTENing on 127.0.0.1:port (or 0.0.0.0:port),
 * according to /proc/net/tcp and /proc/<pid>/fd. Checking ownership matters:
 * if another process already listens on the port, QEMU fails to bind and exits.
 */
async function isListeningBy(pid: number, port: number): Promise<boolean> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  let table: string;
  try {
    table = await readFile("/proc/net/tcp", "latin1");
  } catch {
    return false;
  }
  const inodes = new Set<string>();
  for (const line of table.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    const state = cols[3];
    const inode = cols[9];
    if (local === undefined || inode === undefined || state !== "0A") continue;
    if (local === `0100007F:${hexPort}` || local === `00000000:${hexPort}`) inodes.add(`socket:[${inode}]`);
  }
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (inodes.has(await readlink(`/proc/${pid}/fd/${fd}`))) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}

function qemuArgs(
  image: { kernel: string; initrd: string },
  port: number,
  logfile: string,
  opts: GuestOptions,
): string[] {
  const cmdline = ["console=ttyS0", "panic=-1", ...(opts.append ?? [])].join(" ");
  return [
    "-accel",
    "tcg",
    "-m",
    String(opts.memoryMb ?? 256),
    "-display",
    "none",
    "-monitor",
    "none",
    ...(opts.reboot === true ? [] : ["-no-reboot"]),
    "-nodefaults",
    "-kernel",
    image.kernel,
    "-initrd",
    image.initrd,
    "-append",
    cmdline,
    "-chardev",
    opts.serial === "pty"
      ? `pty,id=s0,logfile=${logfile.replaceAll(",", ",,")}`
      : `socket,id=s0,host=127.0.0.1,port=${port},server=on,wait=off,telnet=on,${opts.nodelay === true ? "nodelay=on," : ""}logfile=${logfile.replaceAll(",", ",,")}`,
    "-serial",
    "chardev:s0",
    ...(opts.extraArgs ?? []),
  ];
}

class QemuGuest implements Guest {
  readonly exited: Promise<ExitInfo>;
  readonly pid: number;
  private stopping: Promise<void> | undefined;
  private exitInfo: ExitInfo | undefined;
  private readonly onProcessExit = (): void => {
    if (this.exitInfo === undefined) this.child.kill("SIGKILL");
  };

  constructor(
    private readonly child: ChildProcess,
    readonly telnetPort: number,
    readonly logfile: string,
  ) {
    if (child.pid === undefined) throw new Error("qemu has no pid");
    this.pid = child.pid;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        process.removeListener("exit", this.onProcessExit);
        resolve(this.exitInfo);
      });
    });
    // Never leave an orphaned qemu behind if the test process dies.
    process.on("exit", this.onProcessExit);
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.exitInfo !== undefined) return;
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (this.exitInfo === undefined) this.child.kill("SIGKILL");
      }, STOP_GRACE_MS);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    })();
    return this.stopping;
  }
}

/**
 * Spawns QEMU and resolves once it is running and its telnet port is listening
 * (it does NOT wait for the guest to boot: use
 * `waitForFile(guest.logfile, READY_MARKER, ms)` for that, ~3 s under TCG).
 */
export async function startGuest(opts: GuestOptions = {}): Promise<Guest> {
  const image = opts.image ?? (await ensureGuestImage());
  const logfile = opts.logfile ?? join(await mkdtemp(join(tmpdir(), "sysrq-bridge-guest-")), "console.log");
  // If we picked the port ourselves, another process may grab it before QEMU
  // binds it; retry a few times in that case.
  const attempts = opts.telnetPort === undefined ? 5 : 1;
  let lastErr: Error | undefined;
  for (let i = 0; i < attempts; i++) {
    const port = opts.telnetPort ?? (await freeTcpPort());
    try {
      return await launch(image, port, logfile, opts);
    } catch (err: unknown) {
      lastErr = err instanceof Error ? err : new Error(String(err));
      if (!/bind|address already in use/i.test(lastErr.message)) throw lastErr;
    }
  }
  throw lastErr ?? new Error("startGuest failed");
}

async function launch(
  image: { kernel: string; initrd: string },
  port: number,
  logfile: string,
  opts: GuestOptions,
): Promise<Guest> {
  const child = spawn(QEMU, qemuArgs(image, port, logfile, opts), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  const collect = (chunk: Buffer): void => {
    stderr = (stderr + chunk.toString("utf8")).slice(-16_384);
    if (process.env["SYSRQ_BRIDGE_GUEST_DEBUG"])
      process.stderr.write(`[qemu ${port}] ${chunk.toString("utf8")}`);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));

  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });
  const guest = new QemuGuest(child, port, logfile);

  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  for (;;) {
    if (guest.hasExited) {
      const info = await guest.exited;
      await Promise.race([closed, sleep(500)]); // let stderr drain
      throw new Error(
        `qemu exited during startup (code=${String(info.code)}, signal=${String(info.signal)}): ${stderr.trim()}`,
      );
    }
    if (
      opts.serial === "pty" ? /char device redirected to/.test(stderr) : await isListeningBy(guest.pid, port)
    ) {
      return guest;
    }
    if (Date.now() >= deadline) {
      await guest.stop();
      throw new Error(
        `qemu did not listen on 127.0.0.1:${port} within ${LISTEN_TIMEOUT_MS} ms: ${stderr.trim()}`,
      );
    }
    await sleep(20);
  }
}
