/**
 * The tty transport against real ptys from socat: capture is byte-exact, a pty is recognised as
 * unable to carry a BREAK (409, nothing sent), and a device that vanishes and returns is reattached.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { TargetSide, startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("socat");

describe("tty transport on a socat pty pair", { skip }, () => {
  let dir: string;
  let pair: PtyPair;
  let daemon: Daemon & { captureDir: string };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-pty-"));
    // The daemon starts first: a device that does not exist yet is a state, not an error.
    daemon = await startTestDaemon({
      ports: [{ id: "pty0", transport: { kind: "tty", path: path.join(dir, "ttyA") } }],
    });
    const port = daemon.ports.get("pty0");
    await waitUntil(() => /waiting for the device/.test(port.info().reason ?? ""), 2000, "reason shown");
    assert.equal(port.info().state, "connecting");
    pair = await startPtyPair(path.join(dir, "ttyA"), path.join(dir, "ttyB"));
    await waitUntil(() => daemon.ports.get("pty0").info().state === "open", 5000, "pty port open");
  });
  after(async () => {
    await daemon.close();
    await pair.stop();
  });

  it("reports that a pty cannot carry a BREAK, and refuses SysRq and BREAK with 409 without sending a byte", async () => {
    const info = daemon.ports.get("pty0").info();
    assert.equal(info.capabilities.break.available, false);
    assert.match(info.capabilities.break.reason ?? "", /pseudo-terminal/);
    const target = new TargetSide(pair.targetSide);
    try {
      for (const url of ["/ports/pty0/sysrq", "/ports/pty0/break"]) {
        const res = await daemon.app.inject({
          method: "POST",
          url,
          payload: url.endsWith("sysrq") ? { keys: "h" } : {},
        });
        assert.equal(res.statusCode, 409);
        assert.equal(res.json<{ code: string }>().code, "BREAK_UNSUPPORTED");
      }
      // Nothing reached the far end.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(target.bytes.length, 0, "no byte reached the target side");
    } finally {
      target.close();
    }
  });

  it("captures every byte value the target prints, byte for byte, and indexes its lines", async () => {
    const capture = daemon.ports.get("pty0").capture;
    const startSize = capture.size;
    const startSeq = capture.lines.next;
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const payload = Buffer.concat([
      Buffer.from("hello from the target\r\n"),
      all,
      Buffer.from("\r\nlast line\r\n"),
    ]);
    const target = new TargetSide(pair.targetSide);
    try {
      target.write(payload);
      await waitUntil(() => capture.size >= startSize + payload.length, 5000, "bytes captured");
    } finally {
      target.close();
    }
    await waitUntil(
      async () => (await readFile(capture.files.raw)).length >= startSize + payload.length,
      2000,
      "capture file flushed",
    );
    const raw = await readFile(capture.files.raw);
    assert.deepEqual(raw.subarray(startSize), payload);
    const page = capture.lines.query(startSeq, 100);
    assert.equal(page.lines[0]?.text, "hello from the target");
    assert.equal(page.lines.at(-1)?.text, "last line");
    const res = await daemon.app.inject({ method: "GET", url: `/ports/pty0/log?since=${startSeq}&limit=1` });
    assert.deepEqual(
      res.json<{ lines: { text: string }[] }>().lines.map((l) => l.text),
      ["hello from the target"],
    );
  });

  it("goes to connecting when the device vanishes, marks the gap, and reattaches when it returns", async () => {
    const port = daemon.ports.get("pty0");
    await pair.stop();
    await waitUntil(() => port.info().state === "connecting", 5000, "port notices the pty went away");
    const res = await daemon.app.inject({ method: "POST", url: "/ports/pty0/break", payload: {} });
    assert.equal(res.statusCode, 503);
    pair = await startPtyPair(pair.daemonSide, pair.targetSide);
    await waitUntil(() => port.info().state === "open", 15_000, "port reattached");
    const index = await readFile(port.capture.files.index, "utf8");
    assert.match(index, /"gap":true/);
  });
});
