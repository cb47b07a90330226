import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon } from "../helpers/daemon.js";

class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString().split("\n"))
      if (line) this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
}

describe("access log", () => {
  const logs = new LogLines();
  let daemon: Daemon;
  before(async () => {
    const kernel = new FakeKernel();
    daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
      createTransport: kernel.factory,
      logStream: logs,
    });
  });
  after(() => daemon.close());

  const requestLines = (reqId: string) => logs.lines.filter((line) => line["reqId"] === reqId);

  it("writes one line per request, when it completes, with method, url, client and status", async () => {
    const res = await daemon.app.inject({ method: "GET", url: "/ports" });
    await new Promise((resolve) => setImmediate(resolve));
    const lines = requestLines(String(res.headers["x-request-id"]));
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const [line] = lines;
    assert.equal(line?.["msg"], "request completed");
    assert.deepEqual(
      {
        method: (line?.["req"] as Record<string, unknown>)["method"],
        url: (line?.["req"] as Record<string, unknown>)["url"],
      },
      { method: "GET", url: "/ports" },
    );
    assert.ok("remoteAddress" in (line?.["req"] as object));
    assert.deepEqual(line?.["res"], { statusCode: 200 });
    assert.equal(typeof line?.["responseTime"], "number");
  });

  it("logs a refused request with its status too", async () => {
    const res = await daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/sysrq",
      payload: { keys: "h", extra: 1 },
    });
    assert.equal(res.statusCode, 400);
    await new Promise((resolve) => setImmediate(resolve));
    const lines = requestLines(String(res.headers["x-request-id"])).filter(
      (line) => line["msg"] === "request completed",
    );
    assert.equal(lines.length, 1);
    assert.deepEqual(lines[0]?.["res"], { statusCode: 400 });
  });
});
