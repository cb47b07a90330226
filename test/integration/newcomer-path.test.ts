/**
 * Issue 14, the newcomer's and the harness's path through the HTTP API: a long-poll without since
 * never answers a line printed before the call, tail=N, a since past the end, validation errors that
 * name their field, a body-less POST /break, and a BREAK whose length the far end decides.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startFakeKernelDaemon, startTestDaemon, waitUntil } from "../helpers/daemon.js";

interface Page {
  lines: { seq: number; text: string }[];
  next: number;
}
interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  field?: string;
}

describe("the newcomer's and the harness's path (fake kernel)", () => {
  let kernel: FakeKernel;
  let daemon: Daemon;

  before(async () => {
    kernel = new FakeKernel();
    daemon = await startFakeKernelDaemon(kernel, {
      listen: true,
    });
  });
  after(() => daemon.close());

  const print = (text: string): void => kernel.transports.at(-1)?.print(text);
  const log = () => daemon.ports.get("vm0").capture.lines;
  const get = (query: string) => daemon.app.inject({ method: "GET", url: `/ports/vm0/log?${query}` });

  it("a long-poll without since answers only the marker printed after the call, never an earlier boot's", async () => {
    print("E2E-READY boot 1\r\nE2E-READY boot 2\r\n");
    await waitUntil(() => log().text(log().next - 1) === "E2E-READY boot 2", 2000, "old markers logged");
    // Over real HTTP, as a harness calls it.
    const waiting = fetch(`${daemon.url}/ports/vm0/log?waitMs=3000&match=READY`);
    await waitUntil(() => log().waiting > 0, 2000, "the long-poll is waiting");
    print("noise\r\nE2E-READY boot 3\r\n");
    const page = (await (await waiting).json()) as Page;
    assert.deepEqual(
      page.lines.map((line) => line.text),
      ["E2E-READY boot 3"],
    );
    assert.equal(page.next, log().next);
    // Nothing new within waitMs: no line at all, and next is the end (not an old marker).
    const idle = (await get("waitMs=200&match=READY")).json<Page>();
    assert.deepEqual(idle, { lines: [], next: log().next });
    const idlePlain = (await get("waitMs=200")).json<Page>();
    assert.deepEqual(idlePlain, { lines: [], next: log().next });
    // Without a match, the first line after the call answers too, and only lines after the call.
    const any = get("waitMs=3000");
    await waitUntil(() => log().waiting > 0, 2000, "the long-poll is waiting");
    print("after-call\r\n");
    assert.deepEqual(
      (await any).json<Page>().lines.map((line) => line.text),
      ["after-call"],
    );
  });

  it("tail=N answers the last N lines and the current next in one call; bounded, and alone", async () => {
    print("tail-a\r\ntail-b\r\ntail-c\r\n");
    await waitUntil(() => log().text(log().next - 1) === "tail-c", 2000, "tail lines logged");
    const page = (await get("tail=2")).json<Page>();
    assert.deepEqual(
      page.lines.map((line) => line.text),
      ["tail-b", "tail-c"],
    );
    assert.equal(page.next, log().next);
    assert.equal(page.lines[1]?.seq, log().next - 1);
    const tooMany = await get("tail=1001");
    assert.equal(tooMany.statusCode, 400);
    assert.equal(tooMany.json<ErrorBody>().field, "tail");
    assert.match(tooMany.json<ErrorBody>().message, /^querystring field 'tail' must be <= 1000/);
    const mixed = await get("tail=5&since=0");
    assert.equal(mixed.statusCode, 400);
    assert.equal(mixed.json<ErrorBody>().field, "since");
  });

  it("a since past the end is the end: next is the current end, never an echo of the cursor", async () => {
    const future = (await get("since=999999")).json<Page>();
    assert.deepEqual(future, { lines: [], next: log().next });
    // A long-poll from there still sees the next line.
    const waiting = get("since=999999&waitMs=3000");
    await waitUntil(() => log().waiting > 0, 2000, "the long-poll is waiting");
    print("after-future\r\n");
    assert.deepEqual(
      (await waiting).json<Page>().lines.map((line) => line.text),
      ["after-future"],
    );
  });

  it("in a query string + is a space; %2B is a plus", async () => {
    print("count a+b\r\n");
    await waitUntil(() => log().text(log().next - 1) === "count a+b", 2000, "line logged");
    const since = log().next - 1;
    assert.deepEqual((await get(`since=${since}&match=a+b`)).json<Page>().lines, []);
    assert.deepEqual(
      (await get(`since=${since}&match=a%5C%2Bb`)).json<Page>().lines.map((line) => line.text),
      ["count a+b"],
    );
  });

  it("validation errors name the offending field", async () => {
    const cases: [string, string, object | undefined, RegExp, string][] = [
      ["POST", "/ports/vm0/sysrq", { keys: "h", foo: 1 }, /^body has unknown field 'foo'$/, "foo"],
      ["POST", "/ports/vm0/sysrq", { timeoutMs: 5 }, /^body is missing required field 'keys'$/, "keys"],
      ["POST", "/ports/vm0/break", { breakMs: 0 }, /^body field 'breakMs' must be >= 1$/, "breakMs"],
      ["GET", "/ports/vm0/log?bogus=1", undefined, /^querystring has unknown field 'bogus'$/, "bogus"],
      ["GET", "/ports/vm0/log?since=-1", undefined, /^querystring field 'since' must be >= 0$/, "since"],
      ["POST", "/ports/vm0/write", { base64: "aGk=", extra: 1 }, /unknown field 'extra'/, "extra"],
    ];
    for (const [method, url, payload, message, field] of cases) {
      const res = await daemon.app.inject({ method: method as "GET", url, ...(payload ? { payload } : {}) });
      assert.equal(res.statusCode, 400, url);
      const body = res.json<ErrorBody>();
      assert.match(body.message, message, `${url}: ${body.message}`);
      assert.equal(body.field, field, url);
    }
  });

  it("POST /break and /nmi with no body at all take the defaults", async () => {
    const brk = await fetch(`${daemon.url}/ports/vm0/break`, { method: "POST" });
    assert.equal(brk.status, 200, await brk.clone().text());
    // Past validation: refused for what the port is, not for the missing body.
    const nmi = await fetch(`${daemon.url}/ports/vm0/nmi`, { method: "POST" });
    assert.equal(nmi.status, 409);
    assert.equal(((await nmi.json()) as ErrorBody).code, "NMI_UNSUPPORTED");
  });

  it("a BREAK whose length the far end decides carries no breakMs; a held one does", async () => {
    await new Promise((resolve) => setTimeout(resolve, 10));
    const telnet = await daemon.app.inject({ method: "POST", url: "/ports/vm0/break", payload: {} });
    assert.equal(telnet.statusCode, 200);
    assert.deepEqual(telnet.json(), { port: "vm0", method: "telnet-brk" });
    kernel.breakMethod = "qmp-chardev-send-break";
    try {
      const qmp = await daemon.app.inject({ method: "POST", url: "/ports/vm0/break", payload: {} });
      assert.deepEqual(qmp.json(), { port: "vm0", method: "qmp-chardev-send-break" });
      kernel.breakMethod = "rfc2217-set-control";
      const held = await daemon.app.inject({
        method: "POST",
        url: "/ports/vm0/break",
        payload: { breakMs: 120 },
      });
      assert.deepEqual(held.json(), { port: "vm0", breakMs: 120, method: "rfc2217-set-control" });
    } finally {
      kernel.breakMethod = "telnet-brk";
    }
  });
});

describe("a no-response whose output shows the key typed into a shell (fake kernel, kernel.sysrq=0)", () => {
  it("says the evidence points at kernel.sysrq=0 and the key now sits in the input line", async () => {
    const kernel = new FakeKernel(0);
    const daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
      createTransport: kernel.factory,
    });
    try {
      await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
      kernel.transports.at(-1)?.print("/ # ");
      const res = await daemon.app.inject({
        method: "POST",
        url: "/ports/vm0/sysrq",
        payload: { keys: "h", timeoutMs: 1500, settleMs: 0 },
      });
      const [h] = res.json<{ results: { verdict: string; reason?: string; output?: string[] }[] }>().results;
      assert.equal(h?.verdict, "no-response");
      assert.match(h?.reason ?? "", /echoed the key as typed input/, JSON.stringify(h));
      assert.match(h?.reason ?? "", /kernel\.sysrq=0/);
      assert.match(h?.reason ?? "", /"h" now sits in the console's input line/);
    } finally {
      await daemon.close();
    }
  });
});
