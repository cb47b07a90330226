/**
 * The index's size against the raw bytes it describes, for two workloads of a real guest's UART:
 * a `seq` flood (short lines as fast as the emulated UART carries them) and one short line every
 * 10 ms. Reads less than 10 ms apart share a record and its ts; reads further apart share one that
 * says each line's time in one character (dt), so neither index grows a record per line. Figures go to
 * the test log.
 */
import assert from "node:assert/strict";
import { mkdtemp, readdir, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { READY_MARKER, freeTcpPort, startGuest, type Guest, QUIET_CONSOLE } from "../kit/index.js";
import { startTestDaemon } from "../helpers/daemon.js";
import { client, waitLine, type LogBody } from "../helpers/http.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");

/** Bytes of the port's raw files and of its index files. */
async function sizes(dir: string): Promise<{ raw: number; index: number }> {
  let raw = 0;
  let index = 0;
  for (const name of await readdir(dir)) {
    const size = (await stat(path.join(dir, name))).size;
    if (name.startsWith("vm0.raw")) raw += size;
    else if (name.startsWith("vm0.index.jsonl")) index += size;
  }
  return { raw, index };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("capture index size", { skip, timeout: 600_000 }, () => {
  let guest: Guest | undefined;
  let daemon: Awaited<ReturnType<typeof startTestDaemon>> | undefined;

  before(async () => {
    const telnetPort = await freeTcpPort();
    const captureDir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-index-size-"));
    daemon = await startTestDaemon({
      listen: true,
      captureDir,
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: telnetPort } }],
    });
    guest = await startGuest({ telnetPort, append: QUIET_CONSOLE });
    const api = client(daemon.url);
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=${READY_MARKER}`);
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
  });

  after(async () => {
    await daemon?.close();
    await guest?.stop();
  });

  /** Runs `command` in the guest until `done` is printed; the index and raw bytes it added. */
  async function measure(
    command: string,
    done: string,
  ): Promise<{ raw: number; index: number; ratio: number }> {
    assert.ok(daemon);
    const api = client(daemon.url);
    await sleep(200);
    const from = await sizes(daemon.captureDir);
    const since = daemon.ports.get("vm0").capture.lines.next;
    await api.post("/ports/vm0/write", { data: `${command}\r` });
    await waitLine(api, since, done, 400_000);
    // An open record is written once no read can join it (350 ms of quiet).
    await sleep(1000);
    const to = await sizes(daemon.captureDir);
    const raw = to.raw - from.raw;
    const index = to.index - from.index;
    return { raw, index, ratio: index / raw };
  }

  it("keeps the index under 25% of the raw bytes for a seq flood", async (t) => {
    const flood = await measure('seq 1 400000; echo FLOOD-""DONE', "^FLOOD-DONE");
    t.diagnostic(`seq 1 400000: ${JSON.stringify(flood)}`);
    assert.ok(flood.raw > 2_600_000, "the whole flood was captured");
    assert.ok(flood.ratio < 0.25, `index/raw ${flood.ratio.toFixed(3)}`);
  });

  it("keeps the index under 25% of the raw bytes for one short line every 10 ms", async (t) => {
    // Lines of 6 bytes (echo $i from 1000 on), ~25 s under TCG: a record per line was 13x the raw bytes.
    const ticks = await measure(
      'i=1000; while [ $i -lt 3000 ]; do echo $i; usleep 10000; i=$((i+1)); done; echo TICKS-""DONE',
      "^TICKS-DONE",
    );
    t.diagnostic(`one line every 10 ms: ${JSON.stringify(ticks)}`);
    assert.ok(ticks.raw > 2000 * 6);
    assert.ok(ticks.ratio < 0.25, `index/raw ${ticks.ratio.toFixed(3)}`);
  });
});
