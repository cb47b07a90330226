/**
 * Captures raw serial-console fixtures from the real-kernel QEMU guest.
 *
 *   npx tsx test/kit/capture-fixtures.ts
 *
 * For each scenario a guest is booted, a telnet client connects to QEMU's
 * serial chardev, the 12-byte telnet opening QEMU sends
 * (IAC WILL ECHO, IAC WILL SGA, IAC WILL BINARY, IAC DO BINARY) is stripped,
 * and for every key `IAC BRK <key>` is sent in ONE TCP write. Everything the
 * guest printed afterwards (raw, unescaped bytes) is written to
 * test/fixtures/console/<scenario>-<key>.bin, where scenario is
 *   "always" = kernel cmdline sysrq_always_enabled=1
 *   "438"    = kernel cmdline sysctl.kernel.sysrq=438 (Debian's default mask)
 * Capture window per key: at least 1.5 s, extended while output keeps coming
 * (until 400 ms of silence, max 15 s) so long dumps like `t` are complete.
 *
 * glued-prompt.bin: "\r" is sent, and as soon as the shell prompt has been
 * printed, IAC BRK + 'h' is sent, so the sysrq line follows the prompt
 * "/ # " (+ ash's "ESC[6n" cursor query) on the same console line.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { READY_MARKER, startGuest, waitForFile, type Guest } from "./guest.js";

const FIXTURE_DIR = fileURLToPath(new URL("../fixtures/console/", import.meta.url));
const TELNET_OPENING = Buffer.from([0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03, 0xff, 0xfb, 0x00, 0xff, 0xfd, 0x00]);
const IAC_BRK = Buffer.from([0xff, 0xf3]);
const MIN_CAPTURE_MS = 1500;
const QUIET_MS = 400;
const MAX_CAPTURE_MS = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class TelnetConsole {
  private buf = Buffer.alloc(0);
  private lastData = Date.now();
  private openingSeen = false;

  private constructor(private readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.lastData = Date.now();
    });
  }

  static async open(port: number): Promise<TelnetConsole> {
    const sock = connect(port, "127.0.0.1");
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    const c = new TelnetConsole(sock);
    await c.stripOpening();
    return c;
  }

  private async stripOpening(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (this.buf.length < TELNET_OPENING.length) {
      if (Date.now() > deadline) throw new Error("no telnet opening from qemu");
      await sleep(10);
    }
    const head = this.buf.subarray(0, TELNET_OPENING.length);
    if (!head.equals(TELNET_OPENING)) {
      throw new Error(`unexpected telnet opening ${head.toString("hex")}`);
    }
    this.buf = this.buf.subarray(TELNET_OPENING.length);
    this.openingSeen = true;
  }

  /** Discards everything received until `quietMs` passed without data. */
  async drainUntilQuiet(quietMs: number, maxMs: number): Promise<Buffer> {
    const start = Date.now();
    while (Date.now() - this.lastData < quietMs && Date.now() - start < maxMs) await sleep(20);
    return this.take();
  }

  take(): Buffer {
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }

  peek(): Buffer {
    return this.buf;
  }

  write(data: Buffer | string): void {
    if (!this.openingSeen) throw new Error("telnet opening not processed yet");
    this.sock.write(data);
  }

  /** Collects at least minMs, then until quietMs of silence (max maxMs). */
  async capture(minMs: number, quietMs: number, maxMs: number): Promise<Buffer> {
    const start = Date.now();
    await sleep(minMs);
    while (Date.now() - this.lastData < quietMs && Date.now() - start < maxMs) await sleep(20);
    return this.take();
  }

  close(): void {
    this.sock.destroy();
  }
}

async function bootAndConnect(append: string[]): Promise<{ guest: Guest; con: TelnetConsole }> {
  const t0 = Date.now();
  const guest = await startGuest({ append });
  await waitForFile(guest.logfile, READY_MARKER, 60_000);
  process.stderr.write(
    `[capture] guest ${append.join(" ")} ready in ${Date.now() - t0} ms (log ${guest.logfile})\n`,
  );
  const con = await TelnetConsole.open(guest.telnetPort);
  // Let the shell banner/prompt and late boot messages settle.
  await con.drainUntilQuiet(1000, 10_000);
  return { guest, con };
}

function firstSysrqLine(data: Buffer): string {
  const line = data
    .toString("latin1")
    .split(/\r?\n/)
    .find((l) => l.includes("sysrq"));
  return line === undefined
    ? "(no sysrq line)"
    : JSON.stringify(line.length > 160 ? `${line.slice(0, 160)}...` : line);
}

async function save(name: string, data: Buffer): Promise<void> {
  await writeFile(`${FIXTURE_DIR}${name}.bin`, data);
  process.stderr.write(`[capture] ${name}.bin (${data.length} bytes): ${firstSysrqLine(data)}\n`);
}

async function captureKeys(scenario: string, append: string[], keys: string[]): Promise<void> {
  const { guest, con } = await bootAndConnect(append);
  try {
    for (const key of keys) {
      await con.drainUntilQuiet(QUIET_MS, 5000);
      con.write(Buffer.concat([IAC_BRK, Buffer.from(key, "latin1")]));
      await save(`${scenario}-${key}`, await con.capture(MIN_CAPTURE_MS, QUIET_MS, MAX_CAPTURE_MS));
    }
  } finally {
    con.close();
    await guest.stop();
  }
}

async function captureGluedPrompt(): Promise<void> {
  const { guest, con } = await bootAndConnect(["sysrq_always_enabled=1"]);
  try {
    await con.drainUntilQuiet(QUIET_MS, 5000);
    con.write("\r");
    // Wait for the prompt "/ # " (ash then emits ESC[6n) to have arrived.
    const deadline = Date.now() + 5000;
    while (!con.peek().toString("latin1").includes("# ")) {
      if (Date.now() > deadline) throw new Error("no shell prompt after CR");
      await sleep(2);
    }
    con.write(Buffer.concat([IAC_BRK, Buffer.from("h", "latin1")]));
    const data = await con.capture(MIN_CAPTURE_MS, QUIET_MS, MAX_CAPTURE_MS);
    if (!/# (?:.\[6n)?\[ *\d+\.\d+\] sysrq: /u.test(data.toString("latin1"))) {
      process.stderr.write("[capture] WARNING: prompt and sysrq line are not glued in glued-prompt.bin\n");
    }
    await save("glued-prompt", data);
  } finally {
    con.close();
    await guest.stop();
  }
}

async function main(): Promise<void> {
  await mkdir(FIXTURE_DIR, { recursive: true });
  await captureKeys("always", ["sysrq_always_enabled=1"], ["h", "m", "9", "s", "u", "t", "x"]);
  await captureKeys("438", ["sysctl.kernel.sysrq=438"], ["t", "s", "h"]);
  await captureGluedPrompt();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
