/**
 * BREAK marks in the capture index wait for the next bytes' write (or SOON_MS) instead of a write of
 * their own; they must still land in order, in the segment their offset belongs to, and on close.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { Capture } from "../../../src/capture/capture.js";

const quiet = pino({ level: "silent" });

async function openCapture(dir: string, rotateBytes = 1_000_000): Promise<Capture> {
  return Capture.open(dir, "vm0", {
    retainLines: 100,
    rotation: { rotateBytes, maxTotalBytes: 10_000_000 },
    log: quiet,
  });
}

async function records(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("BREAK marks in the capture index", () => {
  it("go before the lines that follow them, in the segment their offset belongs to", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-break-"));
    const capture = await openCapture(dir, 1000);
    capture.append(Buffer.from(`${"x".repeat(989)}\n`), performance.now());
    await new Promise((resolve) => setTimeout(resolve, 20)); // that write is done: the mark waits alone
    capture.markBreak();
    capture.append(Buffer.from("sysrq: HELP : loglevel(0-9)\n"), performance.now());
    await capture.close();
    const files = (await readdir(dir)).filter((name) => name.startsWith("vm0.index.jsonl")).sort();
    assert.equal(files.length, 2, files.join(", "));
    const closed = await records(path.join(dir, files.find((f) => f !== "vm0.index.jsonl") ?? ""));
    const active = await records(path.join(dir, "vm0.index.jsonl"));
    const at = closed.findIndex((r) => r["break"] === true);
    assert.notEqual(at, -1, "the mark is in the closed segment's index, where offset 990 is");
    assert.equal(closed[at]?.["off"], 990);
    assert.ok(
      closed.slice(at + 1).every((r) => typeof r["seq"] !== "number") &&
        active.some((r) => typeof r["seq"] === "number" && (r["off"] as number) >= 990),
      "the answer's line records come after the mark",
    );
    assert.ok(!active.some((r) => r["break"] === true), "one mark only");
  });

  it("reach the disk by themselves when no bytes follow", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-break-"));
    const capture = await openCapture(dir);
    capture.markBreak();
    const file = path.join(dir, "vm0.index.jsonl");
    const deadline = Date.now() + 2000;
    while (!(await records(file)).some((r) => r["break"] === true)) {
      assert.ok(Date.now() < deadline, "the BREAK mark was never written");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await capture.close();
  });

  it("leave no timer to wake the daemon once the answer's whole lines carried them", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-break-"));
    const capture = await openCapture(dir);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    // A SysRq request: the BREAK's mark, the answer in two reads (the first ends mid-line), a listener.
    const stop = capture.onLine(() => undefined);
    capture.markBreak();
    capture.append(Buffer.from("sysrq: HELP : log"), performance.now());
    capture.append(Buffer.from("level(0-9)\r\n"), performance.now());
    stop();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(timers(), before, "no BREAK-mark, partial-line or record timer is left armed");
    await capture.close();
    const index = await records(path.join(dir, "vm0.index.jsonl"));
    assert.deepEqual(
      index.map((r) => (r["break"] === true ? "break" : (r["lines"] ?? 1))),
      ["break", 1],
      "the mark, then the answer's line",
    );
  });

  it("are written by close() when it comes first", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-break-"));
    const capture = await openCapture(dir);
    capture.markBreak();
    await capture.close();
    const marks = (await records(path.join(dir, "vm0.index.jsonl"))).filter((r) => r["break"] === true);
    assert.equal(marks.length, 1);
  });
});
