/**
 * bench/peers/minimal-relay.ts as a process of its own (like the daemon): the floor a daemon's figures
 * are compared with in cases 1 and 4.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { processCpuMs, threadsCpuMs } from "./daemon-process.js";

const RELAY = fileURLToPath(new URL("./peers/minimal-relay.ts", import.meta.url));

/** Starts the relay on telnet peers (its ports p0, p1, ... in this order); resolves with its HTTP URL. */
export async function startMinimalRelay(
  peerPorts: number[],
): Promise<{ url: string; cpuMs(): number; threadsCpuMs(): number; close(): Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", RELAY, JSON.stringify(peerPorts)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (d: Buffer) => {
      text += d.toString();
      if (text.includes("\n")) resolve(Number(text.trim()));
    });
    child.once("exit", (code) => reject(new Error(`minimal relay exited (${code})`)));
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    cpuMs: () => processCpuMs(child.pid ?? 0),
    threadsCpuMs: () => threadsCpuMs(child.pid ?? 0),
    close: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
