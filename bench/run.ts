/**
 * npm run bench: figures, never assertions. Each case sets up its own targets and is compared with a
 * baseline measured in the same run; each names what limits it (daemon, guest, kernel, disk).
 *
 *   1  SysRq latency through the daemon vs raw IAC BRK h (twin QEMU guests, swapped halfway)
 *   2  "reisu" with verdicts awaited vs 1 s sleeps between keys
 *   3a a guest floods its console: capture vs QEMU's logfile, byte for byte, while requests are served
 *   3b capture ceiling: a telnet peer streaming flat out vs a raw socket reader; CPU per MB, bytes lost
 *   3c the crash watcher's cost: capture rate with it on vs off (in-process), against the 0.95x goal
 *   4  256 ports with SysRq on all at once: p99, throughput, RSS per idle port
 *   5  start-up to /healthz with 256 ports vs a bare node http server
 *   6  BREAK hold: requested breakMs vs TIOCSBRK..TIOCCBRK in a real ser2net (RFC 2217, strace)
 *
 * Usage: npm run bench [-- --runs N] [-- --out FILE] [-- --smoke] [-- --only 1,4]
 *   --only   the cases to run, by number (case 2 runs inside case 1)
 *   --runs   rounds per latency case (default 40; case 1's warm rounds default to 300)
 *   --warm-up N  case 1's warm-up requests to the daemon and the floor each (default 300, the issue's)
 *   --guest-nagle  case 1's guests with QEMU's default chardev (Nagle on: a first BREAK waits ~42 ms);
 *            by default they have nodelay=on, as docs/targets.md recommends (--guest-nodelay says so)
 *   --smoke  one short run per case (CI runs it through test/e2e/bench-smoke.test.ts)
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { breakHoldCase } from "./cases/break-hold.js";
import { guestFloodCase } from "./cases/guest-flood.js";
import { guestCases } from "./cases/guest-sysrq.js";
import { manyPortsCase } from "./cases/many-ports.js";
import { startupCase } from "./cases/startup.js";
import { streamCase } from "./cases/stream.js";
import { watchCostCase } from "./cases/watch-cost.js";
import { load, printHeader, printRow, type BenchContext, type Row } from "./stats.js";
import { hasCommand } from "../test/helpers/tools.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    out: { type: "string" },
    smoke: { type: "boolean", default: false },
    only: { type: "string" },
    "warm-up": { type: "string" },
    "guest-nodelay": { type: "boolean", default: false },
    "guest-nagle": { type: "boolean", default: false },
  },
});
const smoke = values.smoke ?? false;
const runs = Number(values.runs ?? (smoke ? 4 : 40));
const only = values.only ? new Set(values.only.split(",")) : null;
if (values["guest-nodelay"] && values["guest-nagle"]) {
  console.error("--guest-nodelay and --guest-nagle exclude each other");
  process.exit(64);
}

const CASES: { id: string; run: (ctx: BenchContext) => Promise<void>; needs?: string[] }[] = [
  { id: "1", run: guestCases, needs: ["qemu-system-x86_64"] },
  { id: "3a", run: guestFloodCase, needs: ["qemu-system-x86_64"] },
  { id: "3b", run: streamCase },
  { id: "3c", run: watchCostCase },
  { id: "4", run: manyPortsCase },
  { id: "5", run: startupCase },
  { id: "6", run: breakHoldCase },
];

async function main(): Promise<void> {
  const rows: Row[] = [];
  const ctx: BenchContext = {
    runs,
    runsGiven: values.runs !== undefined,
    ...(values["warm-up"] !== undefined ? { warmUp: Number(values["warm-up"]) } : {}),
    guestNodelay: values["guest-nagle"] !== true,
    smoke,
    rows,
  };
  const started = performance.now();
  const skipped: string[] = [];
  console.log(
    `sysrq-bridge bench: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ` +
      `load ${load()}, ${smoke ? "smoke" : `${runs} runs per latency case`}\n`,
  );
  printHeader();
  for (const c of CASES) {
    if (only && !only.has(c.id)) continue;
    if (c.needs && !c.needs.every(hasCommand)) {
      skipped.push(c.id);
      console.log(`${c.id}   skipped: needs ${c.needs.join(", ")}`);
      continue;
    }
    const before = rows.length;
    await c.run(ctx);
    for (const row of rows.slice(before)) printRow(row);
  }
  const out = values.out ?? path.join(root, "bench", smoke ? "results-smoke.json" : "results.json");
  const result = {
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "unknown",
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    smoke,
    runs,
    seconds: (performance.now() - started) / 1000,
    load: load(),
    skipped,
    rows,
  };
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\n${result.seconds.toFixed(0)} s; written ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
