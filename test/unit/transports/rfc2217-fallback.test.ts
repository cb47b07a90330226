/** An RFC 2217 client against an in-process telnet server that refuses COM-PORT-OPTION. */
import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { TelnetTransport } from "../../../src/transports/telnet.js";
import { waitUntil } from "../../helpers/daemon.js";

describe("RFC 2217 transport, server without COM-PORT-OPTION", () => {
  it("says it falls back to IAC BRK, and sends exactly that", async () => {
    const received: number[] = [];
    const server = net.createServer((socket) => {
      socket.on("data", (chunk: Buffer) => {
        received.push(...chunk);
        // IAC WILL COM-PORT-OPTION -> IAC DONT COM-PORT-OPTION
        if (chunk.includes(Buffer.from([0xff, 0xfb, 44]))) socket.write(Buffer.from([0xff, 0xfe, 44]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const line = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 } as const;
    const transport = new TelnetTransport(
      { kind: "telnet", endpoint: { host: "127.0.0.1", port }, mode: "standard" },
      { line },
    );
    try {
      await transport.open({ data: () => undefined, closed: () => undefined });
      await waitUntil(
        () => transport.breakCapability().reason?.includes("falling back") === true && received.length >= 3,
        2000,
        "refusal",
      );
      assert.equal(transport.breakCapability().method, "telnet-brk");
      const before = received.length;
      await transport.sendBreak(50);
      await waitUntil(() => received.length >= before + 2, 2000, "break bytes");
      assert.deepEqual(received.slice(before), [0xff, 0xf3]);
      assert.ok(
        !Buffer.from(received).includes(Buffer.from([0xff, 0xfa, 44])),
        "no COM-PORT-OPTION message was sent",
      );
    } finally {
      await transport.close();
      server.close();
    }
  });
});
