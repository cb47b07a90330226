/**
 * A real BMC in front of the test guest: OpenIPMI's `ipmi_sim` with a lanplus user, whose `startcmd`
 * boots the guest under QEMU (so chassis power off / cycle really kill and start QEMU), whose VM
 * channel (`serial 15 ... codec VM`) QEMU's ipmi-bmc-extern connects to (power, reset and NMI reach
 * the VM through it), and whose SOL is the guest's ttyS0 (`sol "telnet:..."`).
 *
 *   ipmitool -I lanplus ──UDP──> ipmi_sim ──startcmd──> start-qemu.sh ─exec─> qemu
 *                                   │ <──TCP (VM codec)── ipmi-bmc-extern + isa-ipmi-kcs
 *                                   └──TCP telnet (SOL)──> ttyS0 chardev (server=on,wait=on)
 *
 * ttyS0's chardev waits for ipmi_sim: after a power cycle ipmi_sim reconnects SOL only every ~10 s, and
 * with wait=off QEMU would throw the boot output away meanwhile. `consolePort` puts a tap in the SOL
 * path (startTap) for a test that reads the guest's console without SOL.
 * Ports are picked free per run; every wait has a deadline; stop() kills ipmi_sim's process group
 * (QEMU included). Linux-only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createSocket } from "node:dgram";
import { type AddressInfo, type Server, type Socket, connect, createServer } from "node:net";
import { chmod, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { READY_MARKER, ensureGuestImage, freeTcpPort, waitForFile } from "./guest.js";

export interface BmcOptions {
  /** Boot the test guest through startcmd (default true); false: a BMC with no machine behind it. */
  readonly guest?: boolean;
  /** An ipmi_sim module to `loadlib` (ensureNmiModule()'s nmi_diag.so: `chassis power diag` -> NMI). */
  readonly loadlib?: string;
  /** Extra kernel command line words. */
  readonly append?: readonly string[];
  /** A tap in the SOL path: consoleTelnetPort then carries what ttyS0 says (input dropped). */
  readonly consolePort?: boolean;
}

export interface IpmitoolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Bmc {
  readonly host: string;
  /** ipmi_sim's RMCP+ (UDP) port. */
  readonly lanPort: number;
  readonly username: string;
  readonly password: string;
  /** The guest's ttyS0 chardev (ipmi_sim's SOL connects to it). */
  readonly solPort: number;
  /** The tap's port, with consolePort: ttyS0's output (QEMU's telnet negotiation included). */
  readonly consoleTelnetPort?: number;
  /** Everything the guest printed on ttyS0, appended across power cycles. */
  readonly logfile: string;
  readonly dir: string;
  /** The argv prefix that reaches this BMC (password through IPMI_PASSWORD, see env). */
  readonly ipmitoolArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  ipmitool(args: readonly string[], timeoutMs?: number): Promise<IpmitoolResult>;
  stop(): Promise<void>;
}

const LAN_READY_MS = 15_000;
const BOOT_MS = 60_000;
const STOP_GRACE_MS = 2000;
export const BMC_USER = "admin";
const BMC_PASSWORD = "sysrq-bmc-secret";

/** A free UDP port on 127.0.0.1 (racy, like freeTcpPort). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

export async function startBmc(opts: BmcOptions = {}): Promise<Bmc> {
  const dir = await mkdtemp(join(tmpdir(), "sysrq-bridge-bmc-"));
  const [lanPort, vmPort, solPort] = await Promise.all([freeUdpPort(), freeTcpPort(), freeTcpPort()]);
  // With a tap, ipmi_sim's SOL connects to the tap, which connects on to ttyS0 and copies what it says.
  const tap = opts.consolePort === true ? await startTap(solPort) : undefined;
  const logfile = join(dir, "console.log");
  const withGuest = opts.guest !== false;
  if (withGuest) {
    const image = await ensureGuestImage();
    const append = ["console=ttyS0", "panic=-1"];
    const qemu = [
      process.env["SYSRQ_BRIDGE_QEMU"] ?? "qemu-system-x86_64",
      ...["-accel", "tcg", "-m", "256", "-display", "none", "-monitor", "none", "-nodefaults"],
      ...["-kernel", image.kernel, "-initrd", image.initrd],
      ...["-append", [...append, ...(opts.append ?? [])].join(" ")],
      // The VM channel first: QEMU opens chardevs in order and the waiting ones block there.
      ...["-chardev", `socket,id=ipmi0,host=127.0.0.1,port=${vmPort},reconnect=1`],
      ...["-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0", "-device", "isa-ipmi-kcs,bmc=bmc0"],
      "-chardev",
      `socket,id=s0,host=127.0.0.1,port=${solPort},server=on,wait=on,telnet=on,logfile=${logfile},logappend=on`,
      ...["-serial", "chardev:s0"],
    ];
    // startcmd runs through sh; exec keeps QEMU's pid the one ipmi_sim kills at power off.
    const script = `#!/bin/sh\nexec ${qemu.map(shellQuote).join(" ")} >>${shellQuote(join(dir, "qemu.out"))} 2>&1\n`;
    await writeFile(join(dir, "start-qemu.sh"), script);
    await chmod(join(dir, "start-qemu.sh"), 0o755);
  }
  const lanConf = [
    'name "sysrqbmc"',
    "set_working_mc 0x20",
    "  startlan 1",
    `    addr 127.0.0.1 ${lanPort}`,
    "    priv_limit admin",
    "    allowed_auths_callback none md2 md5 straight",
    "    allowed_auths_user none md2 md5 straight",
    "    allowed_auths_operator none md2 md5 straight",
    "    allowed_auths_admin none md2 md5 straight",
    "    guid a123456789abcdefa123456789abcdef",
    "  endlan",
    `  serial 15 127.0.0.1 ${vmPort} codec VM`,
    ...(withGuest
      ? [
          `  startcmd "${join(dir, "start-qemu.sh")}"`,
          "  startnow true",
          "  poweroff_wait 2",
          "  kill_wait 2",
          `  sol "telnet:127.0.0.1:${tap?.solPort ?? solPort}" 115200`,
        ]
      : []),
    ...(opts.loadlib ? [`  loadlib "${opts.loadlib}" ""`] : []),
    `user 2 true "${BMC_USER}" "${BMC_PASSWORD}" admin 10 none md2 md5 straight`,
    "",
  ].join("\n");
  await writeFile(join(dir, "lan.conf"), lanConf);
  await writeFile(
    join(dir, "bmc.emu"),
    [
      "mc_setbmc 0x20",
      "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr",
      "sel_enable 0x20 1000 0x0a",
      "mc_enable 0x20",
      "",
    ].join("\n"),
  );
  const sim = spawn(
    "ipmi_sim",
    ["-c", join(dir, "lan.conf"), "-f", join(dir, "bmc.emu"), "-s", dir, "-n"],
    // Its own process group: stop() kills ipmi_sim and the QEMU its startcmd forked at once.
    { stdio: ["ignore", "pipe", "pipe"], detached: true, cwd: dir },
  );
  let output = "";
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-8192);
  };
  sim.stdout?.on("data", keep);
  sim.stderr?.on("data", keep);
  const bmc = new SimBmc(sim, dir, lanPort, solPort, logfile, tap);
  try {
    await bmc.lanReady(() => output);
    if (withGuest) await waitForFile(logfile, READY_MARKER, BOOT_MS);
  } catch (err) {
    await bmc.stop();
    throw err;
  }
  return bmc;
}

class SimBmc implements Bmc {
  readonly host = "127.0.0.1";
  readonly username = BMC_USER;
  readonly password = BMC_PASSWORD;
  readonly ipmitoolArgs: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly consoleTelnetPort?: number;
  private readonly exited: Promise<void>;
  private gone = false;
  private readonly onProcessExit = (): void => this.kill("SIGKILL");

  constructor(
    private readonly sim: ChildProcess,
    readonly dir: string,
    readonly lanPort: number,
    readonly solPort: number,
    readonly logfile: string,
    private readonly tap: Tap | undefined,
  ) {
    if (tap !== undefined) this.consoleTelnetPort = tap.port;
    // -C 3: without it ipmitool first asks for the cipher suites, which ipmi_sim does not answer (10 s).
    this.ipmitoolArgs = [
      "-I",
      "lanplus",
      "-C",
      "3",
      "-H",
      this.host,
      "-p",
      String(lanPort),
      "-U",
      BMC_USER,
      "-E",
    ];
    this.env = { ...process.env, IPMI_PASSWORD: BMC_PASSWORD };
    this.exited = new Promise((resolve) =>
      sim.once("exit", () => {
        this.gone = true;
        resolve();
      }),
    );
    process.on("exit", this.onProcessExit);
  }

  /** Resolves once the LAN channel answers `chassis power status`. */
  async lanReady(output: () => string): Promise<void> {
    const end = Date.now() + LAN_READY_MS;
    for (;;) {
      if (this.gone) throw new Error(`ipmi_sim exited during startup: ${output().trim()}`);
      const status = await this.ipmitool(["chassis", "power", "status"], 3000);
      if (status.code === 0) return;
      if (Date.now() > end) {
        throw new Error(
          `ipmi_sim did not answer on UDP ${this.lanPort} within ${LAN_READY_MS} ms: ${output()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  ipmitool(args: readonly string[], timeoutMs = 15_000): Promise<IpmitoolResult> {
    return new Promise((resolve, reject) => {
      const child = spawn("ipmitool", [...this.ipmitoolArgs, ...args], {
        env: this.env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout = (stdout + c.toString("utf8")).slice(-65_536)));
      child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString("utf8")).slice(-65_536)));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  private kill(signal: NodeJS.Signals): void {
    if (this.gone || this.sim.pid === undefined) return;
    try {
      process.kill(-this.sim.pid, signal);
    } catch {
      // already gone
    }
  }

  async stop(): Promise<void> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
    // QEMU is in the same group; a SIGKILL for stragglers that outlived ipmi_sim's SIGTERM.
    if (this.sim.pid !== undefined) {
      try {
        process.kill(-this.sim.pid, "SIGKILL");
      } catch {
        // the group is empty
      }
    }
    process.removeListener("exit", this.onProcessExit);
    await this.tap?.close();
  }
}

interface Tap {
  /** Where ipmi_sim's SOL connects. */
  readonly solPort: number;
  /** Where a reader (the daemon) connects: what the guest's ttyS0 says, across power cycles. */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP tee in the SOL path: each connection ipmi_sim makes is piped on to QEMU's ttyS0 chardev, and
 * what ttyS0 says is copied to the tap's readers (their input is dropped). Linux has one 8250 console,
 * so a second UART cannot carry the kernel's lines; this lets a test read them without SOL.
 */
async function startTap(ttyPort: number): Promise<Tap> {
  const readers = new Set<Socket>();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
  };
  const sol = createServer((bmcSide) => {
    track(bmcSide);
    const tty = connect(ttyPort, "127.0.0.1");
    track(tty);
    tty.on("data", (chunk: Buffer) => {
      bmcSide.write(chunk);
      for (const reader of readers) reader.write(chunk);
    });
    bmcSide.pipe(tty);
    tty.once("close", () => bmcSide.destroy());
    bmcSide.once("close", () => tty.destroy());
  });
  const tapServer = createServer((reader) => {
    track(reader);
    readers.add(reader);
    reader.resume();
    reader.once("close", () => readers.delete(reader));
  });
  const listen = (server: Server): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
    });
  const [solPort, port] = [await listen(sol), await listen(tapServer)];
  return {
    solPort,
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([sol, tapServer].map((s) => new Promise((r) => s.close(() => r(undefined)))));
    },
  };
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
