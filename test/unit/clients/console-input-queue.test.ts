import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConsoleInputQueue, type ConsoleOp } from "../../../src/clients/input-queue.js";

describe("console input queue", () => {
  it("runs input and BREAKs in arrival order, coalescing input that waits, with backpressure", async () => {
    const ran: string[] = [];
    const pressure: boolean[] = [];
    let release: () => void = () => undefined;
    const queue = new ConsoleInputQueue(
      async (op: ConsoleOp) => {
        ran.push(op.kind === "break" ? "BREAK" : op.bytes.toString());
        if (ran.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
      (paused) => pressure.push(paused),
      8,
    );
    queue.push({ kind: "input", bytes: Buffer.from("ls") }); // runs at once, then blocks
    queue.push({ kind: "input", bytes: Buffer.from(" -l") });
    queue.push({ kind: "input", bytes: Buffer.from("\r") });
    queue.push({ kind: "break" });
    queue.push({ kind: "input", bytes: Buffer.from("h and more") }); // 14 bytes wait: over the limit
    assert.deepEqual(pressure, [true]);
    release();
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(ran, ["ls", " -l\r", "BREAK", "h and more"]);
    assert.deepEqual(pressure, [true, false]);
  });
});
