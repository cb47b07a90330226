/**
 * The main job in one command: boot a tiny Linux guest under QEMU, start the sysrq-bridge daemon on
 * its serial console, send SysRq h and m over a real BREAK, and print what the kernel answered.
 */
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { KeyResult } from "../src/sysrq/result.js";
import { READY_MARKER, freeTcpPort, startGuest } from "../test/kit/index.js";

const root = fileURLToPath(new URL("..", import.meta.url));

async function waitForHealth(base: string, daemon: ReturnType<typeof spawn>): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if (daemon.exitCode !== null) throw new Error(`the daemon exited with status ${daemon.exitCode}`);
    const ok = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the daemon did not start listening");
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-demo-"));
  const [telnetPort, httpPort] = [await freeTcpPort(), await freeTcpPort()];
  const configFile = path.join(dir, "config.yaml");
  await writeFile(
    configFile,
    [
      `listen: { host: 127.0.0.1, port: ${httpPort} }`,
      "captureDir: ./capture",
      "ports:",
      "  - id: vm0",
      `    transport: { kind: telnet, host: 127.0.0.1, port: ${telnetPort} }`,
      "",
    ].join("\n"),
  );
  const base = `http://127.0.0.1:${httpPort}`;
  console.log(`config: ${configFile}`);

  const daemon = spawn(process.execPath, [path.join(root, "dist/main.js"), "--config", configFile], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitForHealth(base, daemon);
  console.log("booting a Linux guest under QEMU (software emulation, a few seconds)...");
  const guest = await startGuest({ telnetPort, append: ["sysctl.kernel.sysrq=1"] });
  try {
    const ready = await fetch(`${base}/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    if (!ready.ok || ((await ready.json()) as { lines: unknown[] }).lines.length === 0)
      throw new Error("guest did not come up");
    await new Promise((r) => setTimeout(r, 500));
    console.log(`guest is up; daemon at ${base}\n`);
    console.log(
      `$ curl -X POST ${base}/ports/vm0/sysrq -H 'content-type: application/json' -d '{"keys":"hm"}'`,
    );
    const res = await fetch(`${base}/ports/vm0/sysrq`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ keys: "hm" }),
    });
    const body = (await res.json()) as { results: KeyResult[] };
    for (const r of body.results) {
      console.log(
        `  key ${r.key}: ${r.verdict}${r.action ? ` (${r.action})` : ""} in ${r.latencyMs ?? "-"} ms`,
      );
      console.log(`    kernel: ${r.line ?? "(nothing)"}`);
      if (r.output && r.output.length > 0)
        console.log(`    then ${r.output.length} more line(s), first: ${r.output[0]}`);
    }
    console.log(`\ncapture of everything the guest printed: ${path.join(dir, "capture", "vm0.raw")}`);
  } finally {
    daemon.kill("SIGTERM");
    await guest.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
