import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import type { ExecTransportConfig } from "../../../src/config/types.js";
import { DeviceConnection } from "../../../src/ports/device-connection.js";
import { ExecTransport } from "../../../src/transports/exec.js";

describe("exec port restarts", () => {
  it("restarts a child that exits at once with growing backoff, the exit code as the reason", async () => {
    const config: ExecTransportConfig = { kind: "exec", argv: ["sh", "-c", "exit 7"], env: {}, pty: false };
    const reasons: string[] = [];
    const connection = new DeviceConnection(
      config,
      (c) => ExecTransport.fromConfig(c as ExecTransportConfig),
      { data: () => undefined, opened: () => undefined, lost: (reason) => reasons.push(reason) },
      pino({ level: "silent" }),
    );
    connection.start();
    await sleep(2400);
    await connection.stop();
    // 250 + 500 + 1000 ms of backoff fit in 2.4 s; without backoff (250 ms each) it would be ~9 starts.
    assert.ok(
      connection.opens >= 3 && connection.opens <= 4,
      `3 or 4 starts in 2.4 s, got ${connection.opens}`,
    );
    assert.match(
      reasons[0] ?? "",
      /^disconnected: sh exited with code 7$/,
      "the exit code is the port's reason",
    );
  });
});
