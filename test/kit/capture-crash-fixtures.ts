/**
 * Captures the crash-detector fixtures (test/fixtures/crash/) from the real-kernel QEMU guest.
 *
 *   npx tsx test/kit/capture-crash-fixtures.ts
 *
 * One guest (panic=0, so a panic stays on screen; sysrq_always_enabled=1), a telnet client attached
 * as soon as QEMU listens, and these scenarios in order, each saved raw (telnet opening stripped):
 *   boot.bin       everything from the connect until the ready marker and the prompt are quiet
 *   userspace.bin  the shell echoing lines that look like kernel reports but are not (mid-line BUG,
 *                  "NMI watchdog: ... disabled", an RCU boot banner)
 *   break-l.bin    IAC BRK + l: NMI backtraces of all CPUs (our own action's output)
 *   nmi.bin        QMP inject-nmi: "Uhhuh. NMI received ..." (our own action's output)
 *   oom.bin        busybox sort over an endless line: the OOM killer's report
 *   panic.bin      echo c > /proc/sysrq-trigger: Oops, Call Trace, "Kernel panic", "---[ end ..."
 * Each capture lasts until QUIET_MS without output (capped at MAX_MS).
 */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { READY_MARKER, startGuest } from "./guest.js";

const DIR = fileURLToPath(new URL("../fixtures/crash/", import.meta.url));
const TELNET_OPENING_LENGTH = 12;
const IAC_BRK = Buffer.from([0xff, 0xf3]);
const QUIET_MS = 1500;
const MAX_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Console {
  private buf = Buffer.alloc(0);
  private lastData = Date.now();
  constructor(private readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.lastData = Date.now();
    });
  }
  write(data: Buffer | string): void {
    this.sock.write(data);
  }
  async until(text: string, maxMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (!this.buf.toString("latin1").includes(text)) {
      if (Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} within ${maxMs} ms`);
      await sleep(20);
    }
  }
  async quiet(quietMs = QUIET_MS, maxMs = MAX_MS): Promise<Buffer> {
    const start = Date.now();
    await sleep(200);
    while (Date.now() - this.lastData < quietMs && Date.now() - start < maxMs) await sleep(20);
    const out = this.buf;
    this.buf = Buffer.alloc(0);
    return out;
  }
}

async function qmp(path: string, command: string): Promise<void> {
  const sock = connect(path);
  let text = "";
  sock.setEncoding("utf8");
  sock.on("data", (d: string) => (text += d));
  const waitFor = async (re: RegExp): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!re.test(text)) {
      if (Date.now() > deadline) throw new Error(`qmp: no ${String(re)} in ${text}`);
      await sleep(10);
    }
  };
  await waitFor(/"QMP"/);
  sock.write('{"execute":"qmp_capabilities"}\n');
  await waitFor(/"return"/);
  sock.write(`{"execute":"${command}"}\n`);
  await waitFor(/"return"[\s\S]*"return"|"error"/);
  sock.destroy();
}

async function save(name: string, data: Buffer): Promise<void> {
  await writeFile(join(DIR, `${name}.bin`), data);
  process.stderr.write(`[capture] ${name}.bin: ${data.length} bytes\n`);
}

async function main(): Promise<void> {
  await mkdir(DIR, { recursive: true });
  const qmpPath = join(await mkdtemp(join(tmpdir(), "crash-fixtures-")), "qmp.sock");
  const guest = await startGuest({
    append: ["sysrq_always_enabled=1", "panic=0"],
    extraArgs: ["-qmp", `unix:${qmpPath},server=on,wait=off`],
  });
  const sock = connect(guest.telnetPort, "127.0.0.1");
  const con = new Console(sock);
  try {
    await con.until(READY_MARKER, 60_000);
    const boot = await con.quiet();
    await save("boot", boot.subarray(TELNET_OPENING_LENGTH));

    con.write(
      "echo 'app: BUG: this is not a kernel line'; echo 'NMI watchdog: Perf NMI watchdog permanently disabled'; " +
        "echo 'rcu: Preemptible hierarchical RCU implementation.'; echo 'watchdog: soft lockup detection is fine'\r",
    );
    await save("userspace", await con.quiet());

    con.write(Buffer.concat([IAC_BRK, Buffer.from("l")]));
    await save("break-l", await con.quiet());

    await qmp(qmpPath, "inject-nmi");
    await save("nmi", await con.quiet());

    con.write("head -c 400000000 /dev/zero | sort >/dev/null\r");
    await con.until("Killed process", 60_000);
    await save("oom", await con.quiet());

    con.write("echo c > /proc/sysrq-trigger\r");
    await con.until("---[ end Kernel panic", 60_000);
    await save("panic", await con.quiet(3000));
  } finally {
    sock.destroy();
    await guest.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
