import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { BatchedLogDestination } from "../../../src/log-destination.js";

const later = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;

/** Waits until `file` has something in it (a loaded machine may hold the loop for a while). */
async function written(file: string, deadlineMs = 5000): Promise<string> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const text = readFileSync(file, "utf8");
    if (text !== "" || Date.now() > end) return text;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
const LOGGER = fileURLToPath(new URL("../../../src/logger.ts", import.meta.url));

describe("BatchedLogDestination", () => {
  it("writes lines together, in order, after the code that logged them", async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "log-dest-")), "log");
    const fd = openSync(file, "w");
    try {
      const destination = new BatchedLogDestination(fd);
      destination.write('{"n":1}\n');
      destination.write('{"n":2}\n');
      assert.equal(readFileSync(file, "utf8"), "", "nothing written inside the turn");
      assert.equal(await written(file), '{"n":1}\n{"n":2}\n');
      destination.write('{"n":3}\n');
      destination.flushSync();
      assert.equal(readFileSync(file, "utf8"), '{"n":1}\n{"n":2}\n{"n":3}\n', "flushSync writes at once");
      await later(20);
      assert.equal(readFileSync(file, "utf8").split("\n").length, 4, "nothing written twice");
    } finally {
      closeSync(fd);
    }
  });

  it("writes after what the logging turn queued behind its I/O (the audit's write), with no timer", async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "log-dest-")), "log");
    const fd = openSync(file, "w");
    try {
      const destination = new BatchedLogDestination(fd);
      const timersBefore = timers();
      destination.write('{"n":1}\n');
      // An idle daemon is not woken again to write its log (a timer was, after every answer).
      assert.equal(timers(), timersBefore, "no timer armed");
      // The audit record's write, which the answer waits for, is queued after the port's log line.
      let seenByAudit: string | undefined;
      setImmediate(() => (seenByAudit = readFileSync(file, "utf8")));
      assert.equal(await written(file), '{"n":1}\n');
      assert.equal(seenByAudit, "", "the log line is written after the answer's turn");
    } finally {
      closeSync(fd);
    }
  });

  it("the root logger's last lines survive process.exit() in the same turn", () => {
    const script = [
      `const { createRootLogger } = await import(${JSON.stringify(LOGGER)});`,
      `const log = createRootLogger("info", false);`,
      `for (let i = 0; i < 3; i += 1) log.info({ i }, "last words");`,
      `process.exit(0);`,
    ].join("\n");
    const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    assert.equal(child.status, 0, child.stderr);
    const lines = child.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { i: number; msg: string });
    assert.deepEqual(
      lines.map((line) => [line.i, line.msg]),
      [
        [0, "last words"],
        [1, "last words"],
        [2, "last words"],
      ],
    );
  });

  it("keeps the process alive and quiet when nobody reads the log any more (EPIPE)", () => {
    const script = [
      `const { createRootLogger } = await import(${JSON.stringify(LOGGER)});`,
      `const log = createRootLogger("info", false);`,
      `await new Promise((r) => setTimeout(r, 50));`,
      `for (let i = 0; i < 3; i += 1) { log.info("into a closed pipe"); await new Promise((r) => setImmediate(r)); }`,
      `process.stderr.write("still here\\n");`,
    ].join("\n");
    const child = spawnSync(
      "bash",
      [
        "-o",
        "pipefail",
        "-c",
        `"$0" --import tsx --input-type=module -e "$1" | true`,
        process.execPath,
        script,
      ],
      { encoding: "utf8" },
    );
    assert.equal(child.status, 0);
    assert.match(child.stderr, /still here/);
    assert.doesNotMatch(child.stderr, /log output failed|Error/);
  });
});
