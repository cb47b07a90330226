/**
 * Hostile clients against the built daemon's telnet and RFC 2217 re-export listeners and its HTTP
 * port: an endless IAC SB (the attack that once grew memory twentyfold and wedged the daemon), random
 * option streams, a flood of BREAKs, a client that never reads, more connections than the caps and
 * half-open HTTP requests. Each offender is cut off (and audited), memory stays flat, /healthz answers
 * throughout; SIGTERM with a half-open HTTP connection still exits at once with the audit complete.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { sha256 } from "../../src/config/security.js";
import { COM_PORT_OPTION } from "../../src/telnet/rfc2217.js";
import { BRK, DO, IAC, SB, SE, WILL } from "../../src/telnet/codec.js";
import { freeTcpPort } from "../kit/index.js";
import { listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import { closedBy, connectFrom, rssOf, startSilentTarget, type SilentTarget } from "../helpers/hostile.js";
import { random } from "../helpers/random.js";
import { hostileStream } from "../helpers/telnet-streams.js";

const MiB = 1024 * 1024;

interface AuditLine {
  action: string;
  limit?: string;
  client?: string;
}

describe("hostile clients against the built daemon", { timeout: 120_000 }, () => {
  let dir: string;
  let daemon: BinProcess;
  let target: SilentTarget;
  let httpPort: number;
  let telnetRo: number;
  let rfc2217Ro: number;
  let rfc2217Rw: number;
  let auditFile: string;

  const healthy = async (from = "127.0.0.2"): Promise<void> => {
    const socket = await connectFrom(httpPort, from);
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const { closed, text } = await closedBy(socket, 5000);
    assert.ok(closed && text.startsWith("HTTP/1.1 200"), `/healthz from ${from}: ${text.slice(0, 80)}`);
  };
  const audit = async (): Promise<AuditLine[]> =>
    (await readFile(auditFile, "utf8"))
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as AuditLine);
  const cutOffs = async (limit: string): Promise<AuditLine[]> =>
    (await audit()).filter((a) => a.action === "export-cut-off" && a.limit === limit);

  /** Writes `chunk` up to `total` bytes with backpressure, until the daemon closes the socket. */
  async function flood(socket: net.Socket, chunk: Buffer, total: number): Promise<number> {
    let sent = 0;
    let closed = false;
    socket.on("error", () => undefined);
    socket.once("close", () => (closed = true));
    while (!closed && sent < total) {
      sent += chunk.length;
      if (!socket.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => resolve();
          socket.once("drain", done);
          socket.once("close", done);
        });
      }
    }
    await closedBy(socket, 5000);
    return sent;
  }

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-hostile-"));
    target = await startSilentTarget();
    [httpPort, telnetRo, rfc2217Ro, rfc2217Rw] = await Promise.all([
      freeTcpPort(),
      freeTcpPort(),
      freeTcpPort(),
      freeTcpPort(),
    ]);
    auditFile = path.join(dir, "audit.jsonl");
    const config = path.join(dir, "config.yaml");
    const listener = (port: number, mode: string, as: string): string =>
      `{ host: 127.0.0.1, port: ${port}, mode: ${mode}, as: ${as} }`;
    await writeFile(
      config,
      `listen: { host: 127.0.0.1, port: ${httpPort} }\ncaptureDir: ./cap\nlog: { level: warn }\n` +
        `audit: { file: ${auditFile} }\n` +
        `auth:\n  tokens:\n` +
        `    - { name: reader, role: read, sha256: ${sha256("reader-token-0123456789").toString("hex")} }\n` +
        `    - { name: rig, role: operate, sha256: ${sha256("rig-token-0123456789ab").toString("hex")} }\n` +
        `ports:\n  - id: vm0\n    transport: { kind: telnet, host: 127.0.0.1, port: ${target.port} }\n` +
        `    export:\n      telnet: ${listener(telnetRo, "ro", "reader")}\n` +
        `  - id: vm1\n    transport: { kind: telnet, host: 127.0.0.1, port: ${target.port} }\n` +
        `    export:\n      rfc2217: ${listener(rfc2217Ro, "ro", "reader")}\n` +
        `  - id: vm2\n    transport: { kind: telnet, host: 127.0.0.1, port: ${target.port} }\n` +
        `    export:\n      rfc2217: ${listener(rfc2217Rw, "rw", "rig")}\n`,
    );
    daemon = run(["--config", config]);
    await listening(daemon, httpPort);
    await waitUntil(() => target.sockets.size === 3, 5000, "the three ports attached");
  });
  after(async () => {
    daemon.child.kill("SIGKILL");
    await target.close();
  });

  for (const [name, port] of [
    ["read-only RFC 2217", () => rfc2217Ro],
    ["read-only telnet", () => telnetRo],
  ] as const) {
    it(`${name}: IAC SB 0x18 and then 64 MiB of 'A' is cut off at the bound, audited, RSS flat`, async () => {
      const rssBefore = rssOf(daemon.child.pid as number);
      const socket = await connectFrom(port());
      socket.write(Buffer.from([IAC, SB, 0x18]));
      const sent = await flood(socket, Buffer.alloc(64 * 1024, 0x41), 64 * MiB);
      const grown = rssOf(daemon.child.pid as number) - rssBefore;
      assert.ok(sent < 16 * MiB, `the daemon closed the connection after ${sent / MiB} MiB, not at its end`);
      assert.ok(grown < 24 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
      await waitUntil(async () => (await cutOffs("subnegotiation")).length > 0, 2000, "the cut-off audited");
      await healthy();
    });
  }

  it("random hostile option streams on every listener: the daemon serves on, memory bounded", async () => {
    const r = random(Number(process.env["FUZZ_SEED"] ?? 20261207));
    const rssBefore = rssOf(daemon.child.pid as number);
    for (let round = 0; round < 20; round += 1) {
      await Promise.all(
        [telnetRo, rfc2217Ro, rfc2217Rw].map(async (port) => {
          const socket = await connectFrom(port);
          for (let i = 0; i < 10; i += 1) socket.write(hostileStream(r, 4096));
          socket.end();
          await closedBy(socket, 5000);
        }),
      );
    }
    const grown = rssOf(daemon.child.pid as number) - rssBefore;
    assert.ok(grown < 32 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB`);
    // Every session ended: its lease released and its disconnect audited (input joined while the wire
    // was busy once left a session waiting forever, holding the lease and the daemon's shutdown).
    const balanced = async (): Promise<boolean> => {
      const actions = (await audit()).map((a) => a.action);
      const count = (action: string): number => actions.filter((a) => a === action).length;
      return count("export-connect") === count("export-disconnect");
    };
    await waitUntil(balanced, 3000, "a disconnect audited for every connect");
    await healthy();
    // A well-behaved client is still greeted and the ports are still attached.
    const socket = await connectFrom(telnetRo);
    const greeted = closedBy(socket, 3000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    socket.end();
    assert.match((await greeted).text, /\[sysrq-bridge\] vm0: read only/);
    assert.equal(target.sockets.size, 3);
  });

  it("a flood of BREAKs and COM-PORT-OPTION commands on the rw RFC 2217 listener is cut off at 64 pending", async () => {
    const socket = await connectFrom(rfc2217Rw);
    socket.write(Buffer.from([IAC, WILL, COM_PORT_OPTION]));
    const breakOn = [IAC, SB, COM_PORT_OPTION, 5, 5, IAC, SE];
    socket.write(Buffer.from(Array.from({ length: 500 }, () => [IAC, BRK, ...breakOn]).flat()));
    const { closed } = await closedBy(socket, 5000);
    assert.ok(closed, "cut off");
    await waitUntil(async () => (await cutOffs("pending-commands")).length > 0, 2000, "the cut-off audited");
  });

  it("a client that never reads the answers to its negotiations is cut off past 4 MiB unread", async () => {
    const socket = await connectFrom(telnetRo);
    socket.pause(); // reads nothing: each IAC DO 99 is answered IAC WONT 99 into a full socket
    const sent = await flood(
      socket,
      Buffer.from(Array.from({ length: 20_000 }, () => [IAC, DO, 99]).flat()),
      64 * MiB,
    );
    assert.ok(sent < 64 * MiB, `cut off after ${(sent / MiB).toFixed(1)} MiB`);
    await waitUntil(async () => (await cutOffs("unread-output")).length > 0, 2000, "the cut-off audited");
    await healthy();
  });

  it("caps connections at 64 per address on a telnet listener; another address still connects", async () => {
    const sockets = await Promise.all(Array.from({ length: 70 }, () => connectFrom(telnetRo)));
    const results = await Promise.all(sockets.map((s) => closedBy(s, 1500)));
    assert.equal(results.filter((r) => r.closed).length, 6, "the 6 over the cap closed at once");
    const other = await connectFrom(telnetRo, "127.0.0.3");
    assert.equal((await closedBy(other, 500)).closed, false, "another address is not refused");
    for (const socket of [...sockets, other]) socket.destroy();
  });

  it("half-open HTTP: 64 per address held until the 10 s header timeout, the rest refused with 503", async () => {
    const half = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: ";
    const sockets = await Promise.all(Array.from({ length: 200 }, () => connectFrom(httpPort)));
    const opened = performance.now();
    for (const socket of sockets) socket.write(half);
    const results = sockets.map((s) => closedBy(s, 16_000));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await healthy("127.0.0.2"); // another address is served meanwhile
    const all = await Promise.all(results);
    const elapsed = performance.now() - opened;
    const refused = all.filter((r) => r.text.includes("TOO_MANY_CONNECTIONS"));
    const timedOut = all.filter((r) => r.text.includes("REQUEST_TIMEOUT"));
    // 64 admitted (fewer while keep-alive connections of the start-up check from 127.0.0.1 last)
    assert.ok(
      timedOut.length >= 60 && timedOut.length <= 64,
      `${timedOut.length} closed at the header timeout`,
    );
    assert.equal(refused.length, 200 - timedOut.length, "all beyond the cap refused at once");
    assert.ok(all.every((r) => r.closed));
    assert.ok(elapsed > 9000 && elapsed < 15_000, `closed after ${Math.round(elapsed)} ms`);
    // The address is served again once its connections are gone: the daemon counts a connection out
    // on its own 'close', which can come a moment after the client saw the socket closed.
    await waitUntil(
      () =>
        healthy("127.0.0.1").then(
          () => true,
          () => false,
        ),
      3000,
      "/healthz from 127.0.0.1 once its half-open connections are closed",
    );
  });

  it("SIGTERM with a half-open HTTP connection exits at once, the audit complete", async () => {
    const socket = await connectFrom(httpPort);
    socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-a: ");
    const watcher = await connectFrom(telnetRo); // its disconnect is audited during the shutdown
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signalled = performance.now();
    daemon.child.kill("SIGTERM");
    const code = await daemon.exited;
    const ms = performance.now() - signalled;
    socket.destroy();
    watcher.destroy();
    assert.equal(code, 0, `${daemon.output().stderr}\n${daemon.output().stdout.slice(-3000)}`);
    assert.ok(ms < 5000, `exited ${Math.round(ms)} ms after SIGTERM`);
    const text = await readFile(auditFile, "utf8");
    assert.ok(text.endsWith("\n"), "the last record is whole");
    const last = (await audit()).at(-1);
    assert.equal(last?.action, "export-disconnect", "the watcher's disconnect is recorded at shutdown");
  });
});
