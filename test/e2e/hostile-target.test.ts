/**
 * A hostile far end of a telnet port (a terminal server or QEMU chardev gone wrong): an IAC SB that
 * never ends. The daemon, its client, drops the connection at the subnegotiation bound and reconnects,
 * instead of buffering the stream.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { IAC, SB } from "../../src/telnet/codec.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

describe("a telnet port whose far end sends an endless subnegotiation", () => {
  let server: net.Server;
  let daemon: Daemon;
  const connections: { sent: number; closedEarly: boolean }[] = [];

  before(async () => {
    server = net.createServer((socket) => {
      const record = { sent: 0, closedEarly: false };
      connections.push(record);
      socket.on("error", () => undefined);
      socket.once("close", () => (record.closedEarly = record.sent < 64 * 1024 * 1024));
      socket.write(Buffer.from([IAC, SB, 0x18]));
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      const pump = (): void => {
        while (!socket.destroyed && record.sent < 64 * 1024 * 1024) {
          record.sent += chunk.length;
          if (!socket.write(chunk)) {
            socket.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port, mode: "standard" } }],
    });
  });
  after(async () => {
    await daemon.close();
    server.close();
  });

  it("is disconnected at the bound and reconnected, memory flat", async () => {
    const before = process.memoryUsage().rss;
    await waitUntil(() => connections.length >= 3, 10_000, "three connections");
    await daemon.close(); // no more reconnects while the connections are counted
    const grown = process.memoryUsage().rss - before;
    for (const c of connections.slice(0, 2)) {
      assert.ok(
        c.closedEarly,
        `the daemon hung up after ${c.sent / 1024 / 1024} MiB, not at the stream's end`,
      );
    }
    assert.ok(grown < 64 * 1024 * 1024, `RSS grew by ${(grown / 1024 / 1024).toFixed(1)} MiB`);
  });
});
