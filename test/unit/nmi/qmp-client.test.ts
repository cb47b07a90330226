/** The QMP client against an in-process peer that speaks QMP the way QEMU does, events included. */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { QmpClient, QmpError, type QmpEvent } from "../../../src/control/qmp.js";

function fakeQemu(): Promise<{ server: net.Server; port: number; commands: string[] }> {
  const commands: string[] = [];
  const server = net.createServer((socket) => {
    socket.write(
      '{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}\r\n',
    );
    let buffer = "";
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let nl = buffer.indexOf("\n"); nl !== -1; nl = buffer.indexOf("\n")) {
        const { execute, id } = JSON.parse(buffer.slice(0, nl)) as { execute: string; id: number };
        buffer = buffer.slice(nl + 1);
        commands.push(execute);
        // An asynchronous event between the command and its reply, as QEMU may send.
        socket.write('{"event": "NMI", "timestamp": {"seconds": 1, "microseconds": 2}}\r\n');
        if (execute === "bogus")
          socket.write(
            `{"error": {"class": "CommandNotFound", "desc": "The command bogus has not been found"}, "id": ${id}}\r\n`,
          );
        else socket.write(`{"return": {}, "id": ${id}}\r\n`);
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, port: (server.address() as net.AddressInfo).port, commands }),
    ),
  );
}

describe("QMP client", () => {
  it("negotiates capabilities, skips events, matches replies, and reports errors with their class", async () => {
    const qemu = await fakeQemu();
    const client = new QmpClient({ host: "127.0.0.1", port: qemu.port });
    try {
      assert.deepEqual(await client.execute("inject-nmi"), {});
      await assert.rejects(
        client.execute("bogus"),
        (err: unknown) => err instanceof QmpError && err.qmpClass === "CommandNotFound",
      );
      assert.deepEqual(qemu.commands, ["qmp_capabilities", "inject-nmi", "bogus"]);
    } finally {
      client.close();
      qemu.server.close();
    }
  });

  it("fails clearly when nothing listens", async () => {
    const client = new QmpClient({ path: "/nonexistent/qmp.sock" });
    await assert.rejects(client.execute("inject-nmi"), /cannot connect to QMP at \/nonexistent\/qmp\.sock/);
  });

  it("a listener gets every event with QEMU's timestamp; the connection is kept open and reopened", async () => {
    const qemu = await fakeQemu();
    const sockets: net.Socket[] = [];
    qemu.server.on("connection", (socket) => sockets.push(socket));
    const client = new QmpClient({ host: "127.0.0.1", port: qemu.port });
    const events: QmpEvent[] = [];
    const stop = client.onEvent((event) => events.push(event));
    try {
      // Listening alone connects: capabilities are negotiated without any command of ours.
      const deadline = Date.now() + 3000;
      while (qemu.commands.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(qemu.commands, ["qmp_capabilities"]);
      assert.deepEqual(events[0], { event: "NMI", at: new Date(1000).toISOString() });
      sockets[0]!.write(
        '{"event": "GUEST_PANICKED", "data": {"action": "pause"}, "timestamp": {"seconds": 2, "microseconds": 5000}}\r\n',
      );
      while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(events[1], {
        event: "GUEST_PANICKED",
        at: new Date(2005).toISOString(),
        data: { action: "pause" },
      });
      sockets[0]!.destroy(); // QEMU restarted, or the socket dropped: the client comes back by itself
      const again = Date.now() + 4000;
      while (sockets.length < 2 && Date.now() < again) await new Promise((r) => setTimeout(r, 20));
      assert.equal(sockets.length, 2, "reconnected while listened to");
    } finally {
      stop();
      client.close();
      qemu.server.close();
    }
  });
});
