/**
 * FakeKernel behind a real TCP socket: a telnet peer that answers IAC BRK + key the way the kernel
 * does (the logic is fake-kernel.ts's, unchanged), for benchmarks and tests that need real sockets.
 *
 *   socket ──TelnetDecoder──> IAC BRK ──> FakeKernelTransport.sendBreak()
 *                          └─> data ────> FakeKernelTransport.write()  ──print──> socket
 */
import net from "node:net";
import { TelnetDecoder, BRK } from "../../src/telnet/codec.js";
import { FakeKernel, FakeKernelTransport } from "./fake-kernel.js";

export interface KernelPeer {
  readonly port: number;
  readonly kernel: FakeKernel;
  close(): Promise<void>;
}

export async function startKernelPeer(answerDelayMs = 0): Promise<KernelPeer> {
  const kernel = new FakeKernel(1);
  kernel.answerDelayMs = answerDelayMs;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const transport = new FakeKernelTransport(kernel, {
      kind: "telnet",
      endpoint: { host: "127.0.0.1", port: 0 },
      mode: "standard",
    });
    void transport.open({ data: (bytes) => socket.write(bytes), closed: () => socket.end() });
    const decoder = new TelnetDecoder("standard");
    socket.on("data", (chunk: Buffer) => {
      for (const event of decoder.decode(chunk)) {
        if (event.type === "command" && event.command === BRK) void transport.sendBreak();
        else if (event.type === "data") void transport.write(event.bytes);
      }
    });
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    kernel,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
