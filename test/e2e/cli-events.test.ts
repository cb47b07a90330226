/**
 * `incidents -f` follows GET /events of the real daemon (the built CLI against a daemon whose port is
 * a telnet peer that prints a panic on request): an incident shows as it opens and again as it
 * closes, nothing is polled while nothing happens, and a dropped stream is opened again with
 * Last-Event-ID (a TCP proxy between the CLI and the daemon cuts it and records the requests).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const bin = fileURLToPath(new URL("../../dist/main.js", import.meta.url));
const PANIC = "[   12.000000] Kernel panic - not syncing: cli events test\r\n";

describe("incidents -f over GET /events", { timeout: 60_000 }, () => {
  let daemon: Daemon | undefined;
  let peer: net.Server | undefined;
  let proxy: net.Server | undefined;
  const consoles: net.Socket[] = [];
  const proxied: net.Socket[] = [];
  /** The first bytes of each request through the proxy (its request line and headers). */
  const requests: string[] = [];

  before(async () => {
    peer = net.createServer((socket) => {
      socket.on("error", () => undefined);
      consoles.push(socket);
      socket.write("boot ok\r\n");
    });
    await new Promise<void>((resolve) => peer!.listen(0, "127.0.0.1", resolve));
    daemon = await startTestDaemon({
      listen: true,
      ports: [
        {
          id: "vm0",
          transport: {
            kind: "telnet",
            host: "127.0.0.1",
            port: (peer.address() as net.AddressInfo).port,
            mode: "standard",
          },
          watch: { quietMs: 1000 },
          // A ladder that only waits a second, so each incident closes (failed) soon after it opens.
          recover: {
            on: ["panic"],
            until: "NEVER-PRINTED",
            cooldownMs: 0,
            maxPerHour: 100,
            steps: [{ wait: { timeoutMs: 1000 } }],
          },
        },
      ],
    });
    const daemonPort = Number(new URL(daemon.url).port);
    proxy = net.createServer((client) => {
      const upstream = net.connect(daemonPort, "127.0.0.1");
      proxied.push(client, upstream);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("data", (chunk: Buffer) => {
        const text = chunk.toString("latin1");
        if (/^(GET|POST|PUT|DELETE) /.test(text)) requests.push(text);
      });
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => proxy!.listen(0, "127.0.0.1", resolve));
    await waitUntil(() => consoles.length > 0, 5000, "the daemon's console connection");
  });
  after(async () => {
    for (const socket of proxied) socket.destroy();
    proxy?.close();
    await daemon?.close();
    for (const socket of consoles) socket.destroy();
    peer?.close();
  });

  it("shows each incident as it opens and closes, polls nothing meanwhile, and resumes a dropped stream with Last-Event-ID", async () => {
    const url = `http://127.0.0.1:${(proxy!.address() as net.AddressInfo).port}`;
    const child = spawn(process.execPath, [bin, "incidents", "vm0", "-f"], {
      env: { ...process.env, SYSRQ_BRIDGE_URL: url, SYSRQ_BRIDGE_TOKEN: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const said = () => `stdout: ${JSON.stringify(stdout)}; stderr: ${JSON.stringify(stderr)}`;
    const streams = () => requests.filter((r) => r.startsWith("GET /events "));
    const lists = () => requests.filter((r) => r.startsWith("GET /incidents")).length;
    try {
      await waitUntil(() => streams().length === 1, 10_000, "the CLI's GET /events").catch((err: Error) => {
        throw new Error(`${err.message}; ${said()}`);
      });
      // The first listing, then one read once the stream is open (what came between the two).
      await waitUntil(() => lists() === 2, 5000, "the listing and the read once the stream is open");
      // Quiet: nothing is asked of the daemon (a poll asked every second).
      const quiet = lists();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      assert.equal(lists(), quiet, `no GET /incidents while nothing happened: ${requests.join(" | ")}`);

      consoles.at(-1)!.write(PANIC);
      await waitUntil(() => /^\d+ {2}vm0 {2}panic {2}open /m.test(stdout), 5000, "the open incident").catch(
        (err: Error) => {
          throw new Error(`${err.message}; ${said()}`);
        },
      );
      await waitUntil(() => /^\d+ {2}vm0 {2}panic {2}closed failed /m.test(stdout), 5000, "its close");

      // The stream drops (the proxy cuts every connection): the CLI opens it again from the last id.
      for (const socket of proxied.splice(0)) socket.destroy();
      await waitUntil(() => streams().length === 2, 10_000, "the CLI's second GET /events").catch(
        (err: Error) => {
          throw new Error(`${err.message}; ${said()}`);
        },
      );
      const resumed = /^last-event-id: ([0-9a-z]+-\d+)\r$/im.exec(streams()[1]!);
      assert.ok(resumed, `the resumed request carries Last-Event-ID: ${streams()[1]}`);
      consoles.at(-1)!.write(PANIC);
      await waitUntil(
        () => (stdout.match(/ {2}panic {2}closed failed /g) ?? []).length === 2,
        8000,
        "the 2nd close",
      );
      assert.equal(child.exitCode, null, "still following");
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await exited, 0, said());
  });
});
