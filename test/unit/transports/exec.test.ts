import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { parseBreakSequence } from "../../../src/config/break-sequence.js";
import { ExecTransport, describeArgv } from "../../../src/transports/exec.js";
import {
  TransportOpenError,
  type TransportClosed,
  type TransportLog,
} from "../../../src/transports/transport.js";

interface Logged {
  readonly details: Record<string, unknown>;
  readonly message: string;
}

function recordingLog(): TransportLog & { lines: Logged[] } {
  const lines: Logged[] = [];
  const push = (details: object, message: string): void => {
    lines.push({ details: details as Record<string, unknown>, message });
  };
  return { lines, info: push, warn: push, warnOnce: (_key, details, message) => push(details, message) };
}

/** Collects what a transport hands its sink. */
function sink(): {
  out: () => Buffer;
  closed: Promise<TransportClosed>;
  data: (c: Buffer) => void;
  close: (i: TransportClosed) => void;
} {
  const chunks: Buffer[] = [];
  let close: (info: TransportClosed) => void = () => undefined;
  const closed = new Promise<TransportClosed>((resolve) => (close = resolve));
  return { out: () => Buffer.concat(chunks), closed, data: (c) => chunks.push(c), close: (i) => close(i) };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const open: ExecTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

function transport(
  argv: string[],
  options: { pty?: boolean; sequence?: string; log?: TransportLog; env?: Record<string, string> } = {},
): ExecTransport {
  const t = new ExecTransport(
    { argv, pty: options.pty ?? false, ...(options.env ? { env: options.env } : {}) },
    options.sequence ? { steps: parseBreakSequence(options.sequence), delayMs: 50 } : undefined,
    options.log ? { log: options.log } : {},
  );
  open.push(t);
  return t;
}

describe("exec transport", () => {
  it("is a program's stdin and stdout, argv[0] found on PATH", async () => {
    const s = sink();
    const t = transport(["cat"]);
    await t.open({ data: s.data, closed: s.close });
    await t.write(Buffer.from("hello\n"));
    await until("cat's echo", () => s.out().toString() === "hello\n");
  });

  it("sends the break sequence as bytes, with \\d pauses", async () => {
    const s = sink();
    const t = transport(["cat"], { sequence: "\\035send brk\\r\\dX" });
    await t.open({ data: s.data, closed: s.close });
    const started = Date.now();
    await t.sendBreak(250);
    assert.ok(Date.now() - started >= 45, "the \\d paused delayMs");
    await until("the sequence echoed", () => s.out().equals(Buffer.from("\x1dsend brk\rX", "latin1")));
    assert.deepEqual(
      { available: t.breakCapability().available, method: t.breakCapability().method },
      { available: true, method: "exec-sequence" },
      "a sequence is a break method",
    );
  });

  it("has no break without a sequence", () => {
    const capability = transport(["cat"]).breakCapability();
    assert.equal(capability.available, false, "no break without transport.break");
    assert.match(capability.reason ?? "", /no break sequence/, "the reason says why");
  });

  it("rejects a missing program with ENOENT at open", async () => {
    const s = sink();
    await assert.rejects(
      transport(["no-such-program-sysrq-bridge"]).open({ data: s.data, closed: s.close }),
      (err: unknown) => err instanceof TransportOpenError && err.code === "ENOENT",
      "ENOENT as a TransportOpenError",
    );
  });

  it("reports the child's exit as a disconnect with its code", async () => {
    const s = sink();
    const log = recordingLog();
    const t = transport(["sh", "-c", "echo bye; exit 3"], { log });
    await t.open({ data: s.data, closed: s.close });
    const closed = await s.closed;
    assert.equal(closed.disconnected, true, "an exit is a disconnect");
    assert.match(closed.error?.message ?? "", /sh exited with code 3/, "the exit code is in the reason");
    assert.equal(s.out().toString(), "bye\n", "stdout was the console");
    assert.ok(
      log.lines.some((l) => l.details["code"] === 3),
      "the exit code is logged",
    );
  });

  it("logs stderr apart from the console, bounded under a flood", async () => {
    const s = sink();
    const log = recordingLog();
    const t = transport(
      [
        "sh",
        "-c",
        "echo out; i=0; while [ $i -lt 5000 ]; do echo err-line-$i >&2; i=$((i+1)); done; head -c 300000 /dev/zero | tr '\\0' x >&2; echo >&2; exit 0",
      ],
      { log },
    );
    await t.open({ data: s.data, closed: s.close });
    await s.closed;
    assert.equal(s.out().toString(), "out\n", "stderr never reaches the console");
    const stderrLines = log.lines.filter((l) => l.message === "program stderr");
    assert.ok(
      stderrLines.length <= 20,
      `at most 20 stderr lines logged per window, got ${stderrLines.length}`,
    );
    assert.equal(stderrLines[0]?.details["stderr"], "err-line-0", "the first lines are logged as written");
    assert.ok(
      log.lines.some(
        (l) => typeof l.details["droppedLines"] === "number" && l.details["droppedLines"] > 4000,
      ),
      "the lines not logged are counted",
    );
  });

  it("stops the whole process group: SIGTERM, then SIGKILL after the deadline", async () => {
    const s = sink();
    // The shell ignores SIGTERM and has a child of its own: both must go.
    const t = transport(["sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"]);
    await t.open({ data: s.data, closed: s.close });
    await until("the grandchild's pid", () => /^\d+\n/.test(s.out().toString()));
    const grandchild = Number(s.out().toString().trim());
    assert.ok(alive(grandchild), "the grandchild runs");
    const started = Date.now();
    await t.close();
    assert.ok(Date.now() - started >= 1500, "SIGKILL came after the deadline, not before");
    const closed = await s.closed;
    assert.equal(closed.disconnected, false, "close() is not a disconnect");
    await until("the grandchild gone", () => !alive(grandchild), 2000);
  });

  it("runs the program on a pty with pty: true", async () => {
    const s = sink();
    const t = transport(["sh", "-c", "[ -t 0 ] && [ -t 1 ] && echo on-a-tty; exec cat"], { pty: true });
    await t.open({ data: s.data, closed: s.close });
    await until("the tty check", () => s.out().toString().includes("on-a-tty"));
    await t.write(Buffer.from("typed\r"));
    await until("the pty's echo", () => s.out().toString().includes("typed"));
  });

  it("shows argv, never env values", () => {
    const t = transport(["ipmitool", "-E", "sol activate"], { env: { IPMI_PASSWORD: "s3cret" } });
    assert.equal(t.target, "ipmitool -E 'sol activate'", "argv joined, quoted where needed");
    assert.equal(describeArgv(["a'b"]), "'a'\\''b'", "quotes escaped as a shell would");
  });
});
