/**
 * Case 3a: a QEMU guest floods its console with a known stream while the daemon serves requests
 * (GET /log and /metrics in a loop); the capture is compared byte for byte with QEMU's logfile=
 * record from the stream's first record to STREAM-DONE. Under TCG the emulated UART (~130 KB/s), not
 * the daemon, sets the rate; the baseline is QEMU's own logfile, written as the guest prints.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  MAKE_BLOCK,
  QUIET_CONSOLE,
  RECORD_BYTES,
  expectedStream,
  streamCommand,
  READY_MARKER,
  startGuest,
} from "../../test/kit/index.js";
import { client, type LogBody } from "../../test/helpers/http.js";
import { startDaemonProcess } from "../daemon-process.js";
import { figures, load, type BenchContext } from "../stats.js";

/** The stream from its first record header to the end of the STREAM-DONE line, or null. */
function streamPart(data: Buffer): Buffer | null {
  const from = data.indexOf("\n#00000000:", 0, "latin1");
  const done = data.lastIndexOf("STREAM-DONE", undefined, "latin1");
  return from === -1 || done === -1 ? null : data.subarray(from, done + "STREAM-DONE".length);
}

export async function guestFloodCase(ctx: BenchContext): Promise<void> {
  const records = ctx.smoke ? 20 : 128; // ~330 KB / ~2.1 MB
  const guest = await startGuest({ append: QUIET_CONSOLE });
  const daemon = await startDaemonProcess({
    ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: guest.telnetPort } }],
  });
  const loadAtStart = load();
  try {
    const api = client(daemon.url);
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=90000&match=${READY_MARKER}`);
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=30000&match=${encodeURIComponent("^/ # ")}`);
    await api.post("/ports/vm0/write", { data: MAKE_BLOCK });
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=60000&match=^BLOCK-READY`);
    const start = performance.now();
    await api.post("/ports/vm0/write", { data: streamCommand(records) });
    const done = api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=120000&match=^STREAM-DONE`);
    let finished = false;
    void done.then(() => (finished = true));
    let requests = 0;
    while (!finished) {
      await Promise.all([
        fetch(`${daemon.url}/ports/vm0/log?since=0&limit=10`),
        fetch(`${daemon.url}/metrics`),
      ]);
      requests += 2;
    }
    await done;
    const seconds = (performance.now() - start) / 1000;
    const expected = expectedStream(records);
    const captured = streamPart(await readFile(path.join(daemon.dir, "capture", "vm0.raw")));
    const logged = streamPart(await readFile(guest.logfile));
    const identical = captured !== null && logged !== null && captured.equals(logged);
    const untranslated = logged?.indexOf(expected) === 0;
    const kb = (records * RECORD_BYTES) / 1024;
    ctx.rows.push({
      case: "3a",
      name: `guest flood, ${Math.round(kb)} KB, capture vs logfile`,
      unit: "KB/s",
      bottleneck: "guest",
      figures: figures([kb / seconds]),
      extra: {
        identicalToLogfile: identical,
        streamIntactInLogfile: untranslated,
        lostBytes: identical || !captured || !logged ? 0 : Math.max(0, logged.length - captured.length),
        capturedBytes: captured?.length ?? 0,
        logfileBytes: logged?.length ?? 0,
        requestsServedMeanwhile: requests,
        load: [loadAtStart, load()],
      },
    });
    console.log(
      `    capture ${identical ? "identical to" : "DIFFERS from"} QEMU's logfile over ${captured?.length ?? 0} bytes; ` +
        `${requests} requests served meanwhile`,
    );
  } finally {
    await daemon.stop();
    await guest.stop();
  }
}
