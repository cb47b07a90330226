/**
 * Case 6: BREAK hold accuracy where it can be seen. The daemon drives a real ser2net in RFC 2217 mode
 * (as test/e2e/ser2net-rfc2217.test.ts does) whose ioctls are traced with strace; the hold is the
 * time between its TIOCSBRK and TIOCCBRK on the device, against the breakMs asked for. strace slows
 * ser2net's syscalls, so a few tenths of a ms of the figure are the tracer's.
 */
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { hasCommand } from "../../test/helpers/tools.js";
import { spawnTraced, straceSeconds } from "../../test/helpers/traced.js";
import { writeRfc2217Config } from "../../test/helpers/ser2net.js";
import { startPtyPair } from "../../test/helpers/socat.js";
import { freeTcpPort } from "../../test/kit/index.js";
import { KeepAliveClient } from "../http-client.js";
import { startDaemonProcess } from "../daemon-process.js";
import { figures, load, pause, type BenchContext } from "../stats.js";

/** Hold times (ms) of each TIOCSBRK .. TIOCCBRK pair after the first `skip` ioctls. */
function holds(trace: string, skip: number): number[] {
  const lines = trace
    .split("\n")
    .filter((l) => /TIOC[SC]BRK/.test(l))
    .slice(skip);
  const out: number[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const on = lines[i] ?? "";
    const off = lines[i + 1] ?? "";
    if (on.includes("TIOCSBRK") && off.includes("TIOCCBRK")) {
      out.push((straceSeconds(off) - straceSeconds(on)) * 1000);
      i += 1;
    }
  }
  return out;
}

export async function breakHoldCase(ctx: BenchContext): Promise<void> {
  if (!["socat", "ser2net", "strace"].every(hasCommand)) {
    console.log("6   skipped: socat, ser2net and strace are needed");
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bench-break-"));
  const pair = await startPtyPair(path.join(dir, "device"), path.join(dir, "target"));
  const port = await freeTcpPort();
  const config = await writeRfc2217Config(dir, pair.daemonSide, port);
  const tracePath = path.join(dir, "strace.log");
  const ser2net = spawnTraced(tracePath, "ser2net", ["-n", "-d", "-c", config]);
  const daemon = await startDaemonProcess({
    ports: [{ id: "ts0", transport: { kind: "rfc2217", host: "127.0.0.1", port } }],
  });
  const client = new KeepAliveClient(daemon.url);
  const loadAtStart = load();
  try {
    for (let i = 0; i < 100; i += 1) {
      const info = (await (await fetch(`${daemon.url}/ports/ts0`)).json()) as {
        capabilities: { break: { method?: string } };
      };
      if (info.capabilities.break.method === "rfc2217-set-control") break;
      await pause(100);
    }
    for (const breakMs of ctx.smoke ? [100] : [50, 100, 250, 500]) {
      const skip = (await readFile(tracePath, "utf8"))
        .split("\n")
        .filter((l) => /TIOC[SC]BRK/.test(l)).length;
      const runs = ctx.smoke ? 1 : 5;
      for (let i = 0; i < runs; i += 1) {
        await client.post("/ports/ts0/break", { breakMs });
        await pause(100);
      }
      await pause(300);
      const held = holds(await readFile(tracePath, "utf8"), skip);
      ctx.rows.push({
        case: "6",
        name: `BREAK held minus breakMs ${breakMs} (ser2net)`,
        unit: "ms",
        bottleneck: "daemon",
        figures: figures(held.map((ms) => ms - breakMs)),
        extra: { requestedMs: breakMs, heldMs: figures(held), load: [loadAtStart, load()] },
      });
    }
  } finally {
    client.close();
    await daemon.stop();
    await ser2net.stop();
    await pair.stop();
  }
}
