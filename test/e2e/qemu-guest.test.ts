/**
 * End to end through the daemon's HTTP API against a real Linux kernel booted under QEMU, its serial
 * console on a telnet-mode chardev. Each guest runs with a different kernel.sysrq mask.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { classifyLine } from "../../src/sysrq/verdict.js";
import { READY_MARKER, startGuest } from "../kit/index.js";
import { flushedRaw, lineText, readIndex } from "../helpers/capture-index.js";
import { waitUntil } from "../helpers/daemon.js";
import type { LogBody, SysrqBody } from "../helpers/http.js";
import { startTarget, stopTarget, type Target } from "../helpers/qemu-target.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("qemu-system-x86_64", "cpio", "busybox");

/** The sysrq header lines (not follow-ups, not dump bodies) in the capture after `offset`. */
async function sysrqHeaders(target: Target, offset: number): Promise<string[]> {
  const raw = await readFile(target.daemon.ports.get("vm0").capture.files.raw);
  return raw
    .subarray(offset)
    .toString("latin1")
    .split("\n")
    .flatMap((line) => {
      const parsed = classifyLine(line);
      return parsed.kind === "header" || parsed.kind === "help" || parsed.kind === "disabled"
        ? [parsed.text]
        : [];
    });
}

describe("real kernel, kernel.sysrq=1", { skip, timeout: 240_000 }, () => {
  let target: Target | undefined;
  before(async () => {
    target = await startTarget(["sysctl.kernel.sysrq=1"]);
  });
  after(() => stopTarget(target));

  it("captures the guest from its boot log on, equal to QEMU's own logfile record, 0xFF included", async () => {
    const { api, daemon, guest } = target!;
    const script =
      'echo BYTES-BEGIN; i=0; while [ $i -lt 256 ]; do printf "\\\\$(printf %o $i)"; i=$((i+1)); done; echo; echo BYTES-END\r';
    assert.equal((await api.post(`/ports/vm0/write`, { data: script })).status, 200);
    await api.get<LogBody>(`/ports/vm0/log?since=0&waitMs=20000&match=${encodeURIComponent("^BYTES-END$")}`);
    await new Promise((r) => setTimeout(r, 500));
    const capture = daemon.ports.get("vm0").capture;
    await waitUntil(
      async () => (await readFile(capture.files.raw)).length === capture.size,
      2000,
      "capture flushed",
    );
    const captured = await readFile(capture.files.raw);
    const logged = await readFile(guest.logfile);
    assert.ok(captured.includes("Linux version"), "the daemon was attached before the kernel's first line");
    assert.ok(captured.length > 10_000);
    assert.ok(logged.length >= captured.length);
    const missed = logged.length - captured.length;
    assert.ok(
      missed < 4096,
      `only what the guest printed before the daemon connected is missing (${missed} bytes)`,
    );
    assert.ok(
      logged.subarray(missed).equals(captured),
      "capture equals QEMU's record from the moment of connection",
    );
    const begin = captured.indexOf("BYTES-BEGIN\r\n", captured.indexOf("BYTES-BEGIN\r\n") + 1);
    const bytes = captured.subarray(begin + "BYTES-BEGIN\r\n".length);
    for (let b = 0; b < 256; b += 1) assert.ok(bytes.includes(b), `byte 0x${b.toString(16)} captured`);
  });

  it("acknowledges h 9 m t w s, awaiting the completion of s", async () => {
    const res = await target!.api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h9mtws", timeoutMs: 5000 });
    assert.equal(res.status, 200);
    const results = res.body.results;
    assert.deepEqual(
      results.map((r) => [r.key, r.verdict, r.action]),
      [
        ["h", "acknowledged", "HELP"],
        ["9", "acknowledged", "Changing Loglevel"],
        ["m", "acknowledged", "Show Memory"],
        ["t", "acknowledged", "Show State"],
        ["w", "acknowledged", "Show Blocked State"],
        ["s", "acknowledged", "Emergency Sync"],
      ],
    );
    for (const r of results)
      assert.ok((r.latencyMs ?? 0) > 0 && (r.latencyMs ?? 0) < 2000, `latency of ${r.key}`);
    assert.match(results[5]?.completion?.line ?? "", /Emergency Sync complete/);
    assert.ok(
      (results[2]?.output ?? []).some((l) => l.includes("Mem-Info")),
      "m's dump is in its output",
    );
  });

  it("reports x as unsupported with the keys the kernel offers", async () => {
    const [x] = (await target!.api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "x" })).body.results;
    assert.equal(x?.verdict, "unsupported");
    assert.equal(x?.supported, "0123456789bcefhijklmnopqrstuwz");
  });

  it("runs two concurrent requests one after the other: the kernel sees each key once, never interleaved", async () => {
    const offset = target!.daemon.ports.get("vm0").capture.size;
    const [a, b] = await Promise.all([
      target!.api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "hmh", settleMs: 0 }),
      target!.api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "9w9", settleMs: 0 }),
    ]);
    assert.ok(
      [a, b].every((r) => r.status === 200 && r.body.results.every((k) => k.verdict === "acknowledged")),
    );
    await new Promise((r) => setTimeout(r, 300));
    const headers = (await sysrqHeaders(target!, offset)).map(
      (h) => h.replace(/^sysrq: /, "").split(" :")[0],
    );
    const first = ["HELP", "Show Memory", "HELP"];
    const second = ["Changing Loglevel", "Show Blocked State", "Changing Loglevel"];
    assert.ok(
      JSON.stringify(headers) === JSON.stringify([...first, ...second]) ||
        JSON.stringify(headers) === JSON.stringify([...second, ...first]),
      `headers in the capture: ${JSON.stringify(headers)}`,
    );
  });

  it("uses a plain BREAK's arm within 5 s, refuses typing into it, and cancels it once stale", async () => {
    const { api } = target!;
    assert.equal((await api.post("/ports/vm0/break", {})).status, 200);
    const typed = await api.post<{ code: string }>("/ports/vm0/write", { data: "echo x\r" });
    assert.equal(typed.status, 409);
    assert.equal(typed.body.code, "SYSRQ_ARMED");
    const [fresh] = (await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h", settleMs: 0 })).body.results;
    assert.equal(fresh?.verdict, "acknowledged");
    assert.match(fresh?.note ?? "", /no new BREAK/);

    assert.equal((await api.post("/ports/vm0/break", {})).status, 200);
    await new Promise((r) => setTimeout(r, 5500));
    const [stale] = (await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "h", settleMs: 0 })).body.results;
    assert.equal(stale?.verdict, "acknowledged", "the kernel answered after the stale arm was cancelled");
    assert.match(stale?.note ?? "", /cancelled it first/);
  });

  it("runs reisub in order, each BREAK after the previous key's completion, and sees b end the guest", async () => {
    const { api, daemon, guest } = target!;
    const capture = daemon.ports.get("vm0").capture;
    const indexBefore = (await readFile(capture.files.index, "utf8")).length;
    const res = await api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "reisub", timeoutMs: 5000 });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.results.map((r) => `${r.key}:${r.verdict}`),
      ["r", "e", "i", "s", "u", "b"].map((k) => `${k}:acknowledged`),
    );
    const [, , , s, u, b] = res.body.results;
    assert.match(s?.completion?.line ?? "", /Emergency Sync complete/);
    assert.match(u?.completion?.line ?? "", /Emergency Remount complete/);
    assert.equal(b?.action, "Resetting");
    assert.equal(b?.after?.disconnected, true, "QEMU (-no-reboot) exited: the port saw the disconnect");
    await guest.exited;
    await waitUntil(
      () => daemon.ports.get("vm0").info().state === "connecting",
      2000,
      "port shows the disconnect",
    );

    // The capture writes asynchronously: wait for the disconnect's gap record to reach the index.
    await waitUntil(
      async () => (await readFile(capture.files.index, "utf8")).slice(indexBefore).includes('"gap":true'),
      3000,
      "the disconnect marked as a gap in the index",
    );
    // The index records each BREAK in stream order: the BREAK for u comes after s's completion line,
    // the BREAK for b after u's.
    const index = (await readFile(capture.files.index, "utf8")).slice(indexBefore).trim().split("\n");
    const raw = await readFile(capture.files.raw);
    const events = index.map((l) => JSON.parse(l) as { break?: true; off: number; len?: number; gap?: true });
    const textOf = (e: { off: number; len?: number }) =>
      raw.subarray(e.off, e.off + (e.len ?? 0)).toString("latin1");
    const order = events.map((e) => (e.break ? "BREAK" : e.gap ? "GAP" : textOf(e)));
    const syncDone = order.findIndex((t) => t.includes("Emergency Sync complete"));
    const remountDone = order.findIndex((t) => t.includes("Emergency Remount complete"));
    assert.ok(syncDone > 0 && remountDone > syncDone);
    assert.equal(
      order.slice(syncDone).indexOf("BREAK") + syncDone < remountDone,
      true,
      "u's BREAK after s completed",
    );
    assert.equal(order.filter((t) => t === "BREAK").length, 6, "six BREAK+key pairs");
    assert.ok(order.lastIndexOf("BREAK") > remountDone, "b's BREAK after u completed");
    assert.ok(order.includes("GAP"), "the disconnect is marked as a gap");
  });
});

describe("real kernel, kernel.sysrq=438 (Debian's default)", { skip, timeout: 120_000 }, () => {
  let target: Target | undefined;
  before(async () => {
    target = await startTarget(["sysctl.kernel.sysrq=438"]);
  });
  after(() => stopTarget(target));

  it("a harness's long-poll without since answers the marker printed after its call, not the boot's", async () => {
    const { api, daemon } = target!;
    const booted = await api.get<LogBody>(`/ports/vm0/log?since=0&match=${READY_MARKER}`);
    assert.ok(booted.body.lines.length >= 1, "the boot printed the marker before the call");
    const end = daemon.ports.get("vm0").capture.lines.next;
    const waiting = api.get<LogBody>(`/ports/vm0/log?waitMs=20000&match=${READY_MARKER}`);
    const log = daemon.ports.get("vm0").capture.lines;
    await waitUntil(() => log.waiting > 0, 5000, "the long-poll is waiting");
    // The typed line reads SYSRQ-BRIDGE-GUEST-""READY: only the shell's output line matches.
    const again = `echo ${READY_MARKER.replace("READY", '""READY')} again\r`;
    assert.equal((await api.post("/ports/vm0/write", { data: again })).status, 200);
    const page = (await waiting).body;
    assert.deepEqual(
      page.lines.map((line) => line.text.trim()),
      [`${READY_MARKER} again`],
    );
    assert.ok((page.lines[0]?.seq ?? -1) >= end, "a line printed after the call");
  });

  it("reports t as disabled with needsBit 8, while s still works", async () => {
    const res = await target!.api.post<SysrqBody>("/ports/vm0/sysrq", { keys: "ts" });
    const [t, s] = res.body.results;
    assert.equal(t?.verdict, "disabled");
    assert.equal(t?.needsBit, 8);
    assert.match(t?.hint ?? "", /kernel\.sysrq lacks 8/);
    assert.equal(s?.verdict, "acknowledged");
  });
});

describe("real kernel, kernel.sysrq=0", { skip, timeout: 120_000 }, () => {
  let target: Target | undefined;
  before(async () => {
    target = await startTarget(["sysctl.kernel.sysrq=0"]);
  });
  after(() => stopTarget(target));

  it("gives no-response, with the key visible as typed input, and skips the rest", async () => {
    const res = await target!.api.post<SysrqBody>("/ports/vm0/sysrq", {
      keys: "sm",
      timeoutMs: 1500,
      settleMs: 200,
    });
    const [s, m] = res.body.results;
    assert.equal(s?.verdict, "no-response");
    assert.equal(s?.latencyMs, null);
    assert.ok(
      // eslint-disable-next-line no-control-regex -- the prompt ends in ESC [6n
      (s?.output ?? []).some((line) => /(^|# (\x1b\[6n)?)s$/.test(line)),
      `the shell echoed the key: ${JSON.stringify(s?.output)}`,
    );
    // The reason says what that evidence points at, and where the key is now.
    assert.match(s?.reason ?? "", /echoed the key as typed input.*kernel\.sysrq=0/s);
    assert.match(s?.reason ?? "", /"s" now sits in the console's input line/);
    assert.equal(m?.verdict, "skipped");
  });

  it("reconnects by itself when the guest restarts on the same socket, in time for its boot log", async () => {
    const t = target!;
    const port = t.daemon.ports.get("vm0");
    await t.guest.stop();
    await waitUntil(() => port.info().state === "connecting", 3000, "port notices QEMU went away");
    const lostAt = port.capture.size;
    const rawFile = port.capture.files.raw;
    const unavailable = await t.api.post<{ code: string }>("/ports/vm0/sysrq", { keys: "h" });
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.body.code, "PORT_UNAVAILABLE");
    assert.match(unavailable.headers.get("retry-after") ?? "", /^[1-9]\d*$/, "Retry-After in seconds");
    const since = port.capture.lines.next;
    t.guest = await startGuest({ telnetPort: t.guest.telnetPort, append: ["sysctl.kernel.sysrq=0"] });
    const ready = await t.api.get<LogBody>(
      `/ports/vm0/log?since=${since}&waitMs=60000&match=${READY_MARKER}`,
    );
    assert.equal(ready.body.lines.length, 1);
    const rebooted = await t.api.get<LogBody>(`/ports/vm0/log?since=${since}&limit=10000`);
    assert.ok(
      rebooted.body.lines.some((l) => l.text.includes("Linux version")),
      "the kernel's first line was captured: the daemon was back within QEMU's start-up time",
    );
    assert.match(await readFile(port.capture.files.index, "utf8"), /"gap":true/);
    // The same raw file goes on; the index marks the outage where it happened in the stream.
    assert.equal(port.capture.files.raw, rawFile);
    const raw = await flushedRaw(port.capture);
    assert.ok(raw.subarray(lostAt).includes("Linux version"), "the reboot is captured past the loss");
    // Reads close together share one index record, written once the console pauses (350 ms).
    let index: Awaited<ReturnType<typeof readIndex>> = [];
    const rebootLine = () =>
      index.findLastIndex((r) => r.kind === "line" && lineText(raw, r).includes("Linux version"));
    const gapRecord = () => index.findIndex((r) => r.kind === "gap" && r.off === lostAt);
    // The first boot's "Linux version" is in the index too: wait for one past the gap.
    await waitUntil(
      async () => {
        index = await readIndex(port.capture);
        return gapRecord() >= 0 && rebootLine() > gapRecord();
      },
      10_000,
      "the rebooted kernel's first line in the index, after the gap",
    ).catch(() => undefined); // the assertions below say what is missing
    const gapAt = gapRecord();
    assert.ok(gapAt >= 0, `a gap record at offset ${lostAt}`);
    const reboot = rebootLine();
    assert.ok(reboot > gapAt, "the rebooted kernel's lines follow the gap in the index");
  });
});
