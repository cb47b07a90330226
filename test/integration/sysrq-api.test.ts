import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };

interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}
interface Result {
  key: string;
  verdict: string;
  action?: string;
  needsBit?: number;
  output?: string[];
  reason?: string;
  note?: string;
  completion?: { line: string | null };
  after?: { disconnected: boolean };
}

describe("HTTP API over a fake kernel", () => {
  let kernel: FakeKernel;
  let daemon: Daemon;

  before(async () => {
    kernel = new FakeKernel();
    daemon = await startTestDaemon({
      ports: [
        { id: "vm0", transport: telnet },
        { id: "masked", transport: telnet, sysrqMask: 438 },
      ],
      createTransport: kernel.factory,
    });
    await waitUntil(() => daemon.ports.list().every((p) => p.info().state === "open"), 2000, "ports open");
  });
  after(() => daemon.close());
  beforeEach(() => {
    kernel.wire.length = 0;
    kernel.armedAt = null;
    kernel.sysrqMask = 1;
  });

  const sysrq = (body: unknown, port = "vm0") =>
    daemon.app.inject({ method: "POST", url: `/ports/${port}/sysrq`, payload: body as object });

  it("lists ports with state and break capability", async () => {
    const res = await daemon.app.inject({ method: "GET", url: "/ports/vm0" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      id: "vm0",
      kind: "telnet",
      target: "127.0.0.1:4555",
      state: "open",
      capture: { status: "ok", lostBytes: 0 },
      line: null,
      lease: null,
      viewers: 0,
      health: "good",
      capabilities: {
        break: { available: true, method: "telnet-brk" },
        sysrq: { available: true, method: "break" },
        nmi: { available: false, reason: "no nmi configured for this port" },
        power: { available: false, reason: "no power configured for this port" },
        recover: { configured: false },
      },
    });
    assert.equal((await daemon.app.inject({ method: "GET", url: "/ports" })).json<unknown[]>().length, 2);
    assert.equal((await daemon.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
  });

  it("answers 409 NMI_UNSUPPORTED on a port without nmi, saying how to configure one", async () => {
    const res = await daemon.app.inject({ method: "POST", url: "/ports/vm0/nmi", payload: {} });
    assert.equal(res.statusCode, 409);
    assert.equal(res.json<ErrorBody>().code, "NMI_UNSUPPORTED");
    assert.match(res.json<ErrorBody>().message, /nmi: \{ kind: qmp \}/);
  });

  it("answers 404 PORT_NOT_FOUND for a port that is not configured", async () => {
    const res = await sysrq({ keys: "h" }, "ttyS9");
    assert.equal(res.statusCode, 404);
    assert.equal(res.json<ErrorBody>().code, "PORT_NOT_FOUND");
  });

  it("sends one BREAK per key and returns the kernel's verdicts", async () => {
    const res = await sysrq({ keys: "hm", settleMs: 0 });
    assert.equal(res.statusCode, 200);
    const body = res.json<{ port: string; results: Result[] }>();
    assert.equal(body.port, "vm0");
    assert.deepEqual(
      body.results.map((r) => [r.key, r.verdict, r.action]),
      [
        ["h", "acknowledged", "HELP"],
        ["m", "acknowledged", "Show Memory"],
      ],
    );
    assert.deepEqual(
      kernel.wire.map((op) => (op.op === "break" ? "BREAK" : op.bytes.toString("latin1"))),
      ["BREAK", "h", "BREAK", "m"],
    );
  });

  for (const [name, body] of [
    ["a space", { keys: "a b" }],
    ["a boolean (Ajv would coerce it to 'true')", { keys: true }],
    ["33 keys", { keys: "h".repeat(33) }],
    ["an empty string", { keys: "" }],
    ["no keys at all", {}],
    ["a NUL byte", { keys: "h\u0000" }],
  ] as const) {
    it(`refuses ${name} with 400 INVALID_KEY before any byte is sent`, async () => {
      const res = await sysrq(body);
      assert.equal(res.statusCode, 400);
      assert.equal(res.json<ErrorBody>().code, "INVALID_KEY");
      assert.deepEqual(kernel.wire, []);
    });
  }

  it("rejects unknown fields and out-of-range numbers with 400 VALIDATION", async () => {
    for (const body of [
      { keys: "h", colour: 1 },
      { keys: "h", timeoutMs: 600_000 },
      { keys: "h", settleMs: "5" },
    ]) {
      const res = await sysrq(body);
      assert.equal(res.statusCode, 400, JSON.stringify(body));
      assert.equal(res.json<ErrorBody>().code, "VALIDATION");
    }
    const broken = await daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/sysrq",
      headers: { "content-type": "application/json" },
      payload: "{keys:",
    });
    assert.equal(broken.statusCode, 400);
    assert.equal(broken.json<ErrorBody>().code, "VALIDATION");
    assert.deepEqual(kernel.wire, []);
  });

  it("refuses keys outside the port's sysrqMask with 403 KEY_NOT_ALLOWED, sending nothing", async () => {
    const res = await sysrq({ keys: "sht" }, "masked");
    assert.equal(res.statusCode, 403);
    assert.equal(res.json<ErrorBody>().code, "KEY_NOT_ALLOWED");
    assert.match(res.json<ErrorBody>().message, /\bt\b/);
    assert.deepEqual(kernel.wire, []);
  });

  it("reports disabled with the bit the kernel lacks", async () => {
    kernel.sysrqMask = 438;
    const [result] = (await sysrq({ keys: "t", settleMs: 0 })).json<{ results: Result[] }>().results;
    assert.equal(result?.verdict, "disabled");
    assert.equal(result?.needsBit, 8);
  });

  it("stops a sequence at the first no-response and skips the rest", async () => {
    kernel.sysrqMask = 0;
    const { results } = (await sysrq({ keys: "sub", timeoutMs: 300 })).json<{ results: Result[] }>();
    assert.deepEqual(
      results.map((r) => r.verdict),
      ["no-response", "skipped", "skipped"],
    );
    assert.ok(results[0]?.output?.includes("s"), "the key arrived as typed input");
    assert.match(results[0]?.reason ?? "", /kernel\.sysrq=0/);
    assert.equal(kernel.wire.length, 2, "nothing is sent after a no-response");
  });

  it("awaits the completion of s and u before the next key, and reports what followed b", async () => {
    const { results } = (await sysrq({ keys: "sub", settleMs: 20 })).json<{ results: Result[] }>();
    assert.deepEqual(
      results.map((r) => r.verdict),
      ["acknowledged", "acknowledged", "acknowledged"],
    );
    assert.equal(results[0]?.completion?.line, "[   10.000000] Emergency Sync complete");
    assert.equal(results[1]?.completion?.line, "[   10.000000] Emergency Remount complete");
    assert.equal(results[2]?.after?.disconnected, true);
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "reconnect after b");
  });

  it("runs concurrent requests one at a time: their bytes never interleave", async () => {
    kernel.answerDelayMs = 15;
    try {
      const responses = await Promise.all([
        sysrq({ keys: "mmm", settleMs: 0 }),
        sysrq({ keys: "hhh", settleMs: 0 }),
        sysrq({ keys: "999", settleMs: 0 }),
      ]);
      assert.ok(responses.every((r) => r.statusCode === 200));
      const keys = kernel.wire.flatMap((op) => (op.op === "write" ? [op.bytes.toString()] : []));
      assert.deepEqual(keys.join(""), "mmmhhh999");
      const ops = kernel.wire.map((op) => op.op).join(",");
      assert.equal(ops, Array(9).fill("break,write").join(","), "never two BREAKs in a row");
    } finally {
      kernel.answerDelayMs = 2;
    }
  });

  it("uses the arm of a plain BREAK sent less than 5 s earlier instead of sending another", async () => {
    const brk = await daemon.app.inject({ method: "POST", url: "/ports/vm0/break", payload: {} });
    assert.equal(brk.statusCode, 200);
    const { results } = (await sysrq({ keys: "h", settleMs: 0 })).json<{ results: Result[] }>();
    assert.equal(results[0]?.verdict, "acknowledged");
    assert.match(results[0]?.note ?? "", /no new BREAK/);
    assert.deepEqual(
      kernel.wire.map((op) => op.op),
      ["break", "write"],
    );
  });

  it("streams one result per line with Accept: application/x-ndjson, refusals still plain JSON errors", async () => {
    const streamed = await daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/sysrq",
      headers: { accept: "application/x-ndjson" },
      payload: { keys: "hsm", settleMs: 0 },
    });
    assert.equal(streamed.statusCode, 200);
    assert.match(String(streamed.headers["content-type"]), /^application\/x-ndjson/);
    const lines = streamed.body
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Result);
    assert.deepEqual(
      lines.map((r) => [r.key, r.verdict]),
      [
        ["h", "acknowledged"],
        ["s", "acknowledged"],
        ["m", "acknowledged"],
      ],
    );
    assert.equal(lines[1]?.completion?.line?.includes("Emergency Sync complete"), true);
    const refused = await daemon.app.inject({
      method: "POST",
      url: "/ports/masked/sysrq",
      headers: { accept: "application/x-ndjson" },
      payload: { keys: "hm" },
    });
    assert.equal(refused.statusCode, 403);
    assert.equal(refused.json<ErrorBody>().code, "KEY_NOT_ALLOWED");
  });

  it("keeps the settled keys' results in the error when the link fails mid-sequence", async () => {
    kernel.breaksBeforeFailure = 1;
    try {
      const res = await sysrq({ keys: "hm", settleMs: 0 });
      assert.equal(res.statusCode, 503);
      const body = res.json<ErrorBody & { results: Result[] }>();
      assert.equal(body.code, "PORT_UNAVAILABLE");
      assert.deepEqual(
        body.results.map((r) => [r.key, r.verdict]),
        [["h", "acknowledged"]],
      );
      assert.match(body.message, /1 of 2 keys settled/);
    } finally {
      kernel.breaksBeforeFailure = null;
    }
  });

  it("answers 504 WIRE_TIMEOUT when a BREAK never completes, and resets the link, which reconnects", async () => {
    kernel.stalled = true;
    const opened = kernel.transports.length;
    try {
      const res = await sysrq({ keys: "h", settleMs: 0 });
      assert.equal(res.statusCode, 504);
      const body = res.json<ErrorBody>();
      assert.equal(body.code, "WIRE_TIMEOUT");
      assert.match(body.message, /BREAK on port vm0 did not complete within \d+ ms; the link was reset/);
    } finally {
      kernel.stalled = false;
    }
    await waitUntil(
      () => kernel.transports.length > opened && daemon.ports.get("vm0").info().state === "open",
      5000,
      "the link reconnected",
    );
    const again = await sysrq({ keys: "h", settleMs: 0 });
    assert.equal(again.json<{ results: Result[] }>().results[0]?.verdict, "acknowledged");
  });

  it("serves console lines by seq, and long-polls for a match", async () => {
    const port = kernel.transports.at(-1);
    const future = (await daemon.app.inject({ method: "GET", url: "/ports/vm0/log?since=999999" })).json<{
      lines: unknown[];
      next: number;
    }>();
    // A since past the end is the end (test/integration/newcomer-path.test.ts).
    assert.deepEqual(future, { lines: [], next: daemon.ports.get("vm0").capture.lines.next });
    const since = daemon.ports.get("vm0").capture.lines.next;
    const waiting = daemon.app.inject({
      method: "GET",
      url: `/ports/vm0/log?since=${since}&waitMs=2000&match=${encodeURIComponent("^login:")}`,
    });
    setTimeout(() => port?.print("noise\r\nlogin: \r\n"), 50);
    const page = (await waiting).json<{ lines: { seq: number; text: string }[]; next: number }>();
    assert.deepEqual(
      page.lines.map((l) => l.text),
      ["login: "],
    );
    assert.equal(page.next, since + 2);
    const bad = await daemon.app.inject({ method: "GET", url: "/ports/vm0/log?match=%28" });
    assert.equal(bad.statusCode, 400);
    // Nested repetition cannot backtrack on RE2: it runs (linear time); what RE2 cannot run is refused.
    const redos = await daemon.app.inject({
      method: "GET",
      url: `/ports/vm0/log?match=${encodeURIComponent("^(a+)+$")}`,
    });
    assert.equal(redos.statusCode, 200);
    const backreference = await daemon.app.inject({
      method: "GET",
      url: `/ports/vm0/log?match=${encodeURIComponent("(a)\\1")}`,
    });
    assert.equal(backreference.statusCode, 400);
    assert.match(backreference.json<ErrorBody>().message, /^match .*backreferences/);
  });
});

describe("a port whose peer is not there", () => {
  it("answers 503 PORT_UNAVAILABLE with Retry-After and sends nothing", async () => {
    const kernel = new FakeKernel();
    kernel.reachable = false;
    const daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: telnet }],
      createTransport: kernel.factory,
    });
    try {
      const res = await daemon.app.inject({
        method: "POST",
        url: "/ports/vm0/sysrq",
        payload: { keys: "h" },
      });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json<ErrorBody>().code, "PORT_UNAVAILABLE");
      assert.equal(res.headers["retry-after"], "1");
      assert.equal(daemon.ports.get("vm0").info().state, "connecting");
    } finally {
      await daemon.close();
    }
  });
});

describe("shutdown", () => {
  it("ends a pending long-poll at once instead of waiting out its waitMs", async () => {
    const kernel = new FakeKernel();
    const daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: telnet }],
      createTransport: kernel.factory,
      listen: true,
    });
    const pending = fetch(`${daemon.url}/ports/vm0/log?waitMs=60000&match=never`);
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await daemon.close();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started < 5000, "closed without waiting for the long-poll's 60 s");
  });
});

describe("a busy port", () => {
  it("refuses requests beyond its queue with 429 QUEUE_FULL and Retry-After, sending nothing for them", async () => {
    const kernel = new FakeKernel();
    kernel.answerDelayMs = 40;
    const daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: telnet, queueLimit: 2 }],
      createTransport: kernel.factory,
    });
    try {
      await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
      const responses = await Promise.all(
        Array.from({ length: 6 }, () =>
          daemon.app.inject({ method: "POST", url: "/ports/vm0/sysrq", payload: { keys: "h", settleMs: 0 } }),
        ),
      );
      const ok = responses.filter((r) => r.statusCode === 200);
      const refused = responses.filter((r) => r.statusCode === 429);
      assert.equal(ok.length, 2);
      assert.equal(refused.length, 4);
      for (const r of refused) {
        assert.equal(r.json<ErrorBody>().code, "QUEUE_FULL");
        assert.equal(r.headers["retry-after"], "1");
      }
      assert.equal(kernel.wire.length, 4, "one BREAK + key for each accepted request only");
    } finally {
      await daemon.close();
    }
  });
});
