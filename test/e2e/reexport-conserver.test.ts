/**
 * The README's conserver setup, end to end: a QEMU guest's console re-exported by the daemon over
 * telnet, Debian's conserver with the README's console block (type host, protocol telnet) pointing at
 * that export, and the `console` client on a pty. The client reads and types, and its break sequence
 * `^Ecl1` (`\z`, which conserver sends on a telnet host console as IAC BRK) followed by `h` makes the
 * kernel answer `sysrq: HELP`. And why the README says to use a TCP listener: on a `type uds` console
 * conserver speaks no telnet, and `\z` is a tcsendbreak() on the socket, which fails.
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import {
  READY_MARKER,
  freeTcpPort,
  startGuest,
  type Guest,
  startKernelPeer,
  type KernelPeer,
} from "../kit/index.js";
import { ConsoleClient, ESCAPE, startConserver, type Conserver } from "../helpers/conserver.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { requireTools } from "../helpers/tools.js";

// script: util-linux, gives `console` the pty it wants; /usr/bin/python3 runs helpers/subreaper.py.
const skip = requireTools(
  "qemu-system-x86_64",
  "cpio",
  "busybox",
  "conserver",
  "console",
  "script",
  "/usr/bin/python3",
);

/** The README's line, with the export's port. */
const readmeConsole = (port: number): string =>
  `console vm0 { master localhost; type host; host 127.0.0.1; port ${port}; protocol telnet; rw *; }`;
/** The same over a unix socket listener: conserver's `type uds`. */
const udsConsole = (socket: string): string =>
  `console peer0 { master localhost; type uds; uds ${socket}; protocol telnet; rw *; }`;

describe("conserver on a re-exported QEMU console", { skip, timeout: 90_000 }, () => {
  let daemon: Daemon & { captureDir: string };
  let guest: Guest;
  let conserver: Conserver;
  let peer: KernelPeer;
  let dir: string;
  const clients: ConsoleClient[] = [];

  const capture = async (): Promise<string> =>
    (await readFile(daemon.ports.get("vm0").capture.files.raw)).toString("latin1");
  const consoleBreaks = async (port: string): Promise<Record<string, unknown>[]> =>
    (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((r) => r["action"] === "console-break" && r["via"] === "telnet" && r["port"] === port);
  const attach = async (name = "vm0"): Promise<ConsoleClient> => {
    const client = new ConsoleClient(conserver, dir, name);
    clients.push(client);
    // Typed before the client has put its pty in raw mode, text would be cooked (CR -> LF) and echoed.
    await client.waitFor(/\[Enter `\^Ec\?' for help\]/, 5000);
    return client;
  };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-conserver-"));
    const guestPort = await freeTcpPort();
    peer = await startKernelPeer();
    const socket = path.join(dir, "peer0.telnet");
    daemon = await startTestDaemon({
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: guestPort },
          export: { telnet: { host: "127.0.0.1", port: 0, mode: "rw" } },
        },
        {
          id: "peer0",
          transport: { kind: "telnet", host: "127.0.0.1", port: peer.port },
          export: { telnet: { path: socket, mode: "rw" } },
        },
      ],
    });
    // The daemon creates its socket 0600; under root conserver runs as nobody (helpers/conserver.ts).
    if (process.getuid?.() === 0) await chmod(socket, 0o666);
    guest = await startGuest({ telnetPort: guestPort, append: ["sysctl.kernel.sysrq=1"] });
    await waitUntil(async () => (await capture()).includes(READY_MARKER), 60_000, "guest ready");
    await waitUntil(async () => (await capture()).includes("/ # "), 30_000, "shell prompt");
    conserver = await startConserver(
      dir,
      [readmeConsole(daemon.exports.address("vm0", "telnet") as number), udsConsole(socket)].join("\n"),
    );
  });
  after(async () => {
    for (const client of clients) await client.detach();
    await conserver?.stop();
    await daemon?.close();
    await guest?.stop();
    await peer?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    assert.deepEqual((await conserver?.leftovers()) ?? [], [], "conserver processes left behind");
  });

  it("conserver connects at start and holds the writer lease: HTTP writes get 409, SysRq still works", async () => {
    assert.match(await conserver.status(), /^\s*vm0\s+up\s+<none>/m);
    const lease = daemon.ports.get("vm0").lease.current;
    assert.equal(lease?.via, "telnet", JSON.stringify(lease));
    const write = await daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/write",
      payload: { data: "\r" },
    });
    assert.equal(write.statusCode, 409);
    assert.equal(write.json<{ code: string }>().code, "LEASE_HELD");
    const sysrq = await daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/sysrq",
      payload: { keys: "h" },
    });
    assert.equal(sysrq.statusCode, 200, sysrq.body);
    assert.equal(sysrq.json<{ results: { verdict: string }[] }>().results[0]?.verdict, "acknowledged");
  });

  it("the console client reads the guest's console and types into it", async () => {
    const client = await attach();
    const from = client.text.length;
    client.type("echo hi-con$((6*7))\r");
    await client.waitFor(/\nhi-con42\r?\n/, 10_000, from);
    assert.match(await capture(), /\nhi-con42\r?\n/);
    await client.detach();
    assert.match(client.text, /\[disconnect\]/);
  });

  it("^Ecl1 sends IAC BRK: with h after it the kernel prints sysrq: HELP", async () => {
    const client = await attach();
    // conserver's default break sequences: 1, and 0 (the console's default), are \z, a serial break.
    let from = client.text.length;
    client.type(`${ESCAPE}l?`);
    await client.waitFor(/^ 0 - +\d+ms, `\\z'\r\n 1 - +\d+ms, `\\z'\r$/m, 5000, from);
    const since = daemon.ports.get("vm0").capture.lines.next;
    from = client.text.length;
    client.type(`${ESCAPE}l1`);
    await client.waitFor(/\[halt sent\]/, 5000, from);
    client.type("h");
    await client.waitFor(/sysrq: HELP/, 10_000, from);
    const log = await daemon.app.inject({
      method: "GET",
      url: `/ports/vm0/log?since=${since}&waitMs=5000&match=${encodeURIComponent("sysrq: HELP")}`,
    });
    const { lines } = log.json<{ lines: { text: string }[] }>();
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const breaks = await consoleBreaks("vm0");
    assert.equal(breaks.length, 1, JSON.stringify(breaks));
    assert.equal(breaks[0]?.["code"], undefined, JSON.stringify(breaks));
  });

  it("on a type uds console ^Ecl1 is a tcsendbreak() on the socket: it fails and no BREAK is sent", async () => {
    const client = await attach("peer0");
    const from = client.text.length;
    client.type(`${ESCAPE}l1`);
    await client.waitFor(/\[tcsendbreak\(\) failed\]/, 5000, from);
    // A byte typed after it reaches the target: whatever conserver sent before it has been handled.
    client.type("x");
    const wrote = (): boolean => peer.kernel.wire.some((op) => op.op === "write" && op.bytes.includes("x"));
    await waitUntil(wrote, 5000, "the x typed after ^Ecl1 at the target");
    assert.deepEqual(await consoleBreaks("peer0"), []);
    assert.ok(!peer.kernel.wire.some((op) => op.op === "break"), "no BREAK reached the port's target");
  });
});
