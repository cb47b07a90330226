/**
 * `npm run bench -- --smoke` must keep working: every case once, small, and a well-formed JSON file.
 * No figure is asserted (times on a shared CI box mean nothing); only that each row is complete.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "socat", "ser2net", "strace");
const root = fileURLToPath(new URL("../..", import.meta.url));

interface BenchRow {
  case: string;
  name: string;
  unit: string;
  bottleneck: string;
  figures: { median: number; p90: number; max: number; n: number };
  baseline?: { name: string };
}

describe("bench smoke", { skip, timeout: 240_000 }, () => {
  it("runs every case once and writes its table as JSON", async () => {
    const out = path.join(await mkdtemp(path.join(os.tmpdir(), "sysrq-bench-smoke-")), "results.json");
    const child = spawn(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke", "--out", out], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    assert.equal(code, 0, output);
    const result = JSON.parse(await readFile(out, "utf8")) as {
      smoke: boolean;
      machine: { cpus: number };
      skipped: string[];
      rows: BenchRow[];
    };
    assert.equal(result.smoke, true);
    assert.ok(result.machine.cpus > 0);
    assert.deepEqual(result.skipped, []);
    assert.deepEqual(
      [...new Set(result.rows.map((row) => row.case))].sort(),
      ["1", "2", "3a", "3b", "3c", "4", "5", "6"],
      "one or more rows per case",
    );
    const floors = result.rows.filter((row) => /floor/.test(`${row.name} ${row.baseline?.name ?? ""}`));
    assert.deepEqual(
      [...new Set(floors.map((row) => row.case))].sort(),
      ["1", "4"],
      "cases 1 and 4 are measured against the minimal relay's floor",
    );
    for (const measured of ["1", "4"]) {
      const phases = result.rows
        .filter((row) => row.case === measured && row.baseline)
        .map((row) => /, (cold|warm)$/.exec(row.name)?.[1]);
      assert.deepEqual(
        [...new Set(phases)].sort(),
        ["cold", "warm"],
        `case ${measured} is measured cold (right after start-up) and warm`,
      );
    }
    for (const row of result.rows) {
      assert.ok(row.name && row.unit && row.bottleneck, `row ${JSON.stringify(row)} is labelled`);
      for (const key of ["median", "p90", "max"] as const)
        assert.ok(Number.isFinite(row.figures[key]), `${row.case} ${row.name}: ${key} is a number`);
    }
  });
});
