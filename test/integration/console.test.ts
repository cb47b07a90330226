/**
 * The console WebSocket and the writer lease, over a real listener with a fake kernel behind the
 * port (the real-guest and real-browser proofs are in test/e2e).
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, beforeEach, describe, it } from "node:test";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startFakeKernelDaemon, startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { openConsole, type ConsoleClient } from "../helpers/ws.js";

const TOKENS = {
  reader: "console-read-token-0123456789",
  rig: "console-operate-token-012345",
  rig2: "console-operate-token-2-9876",
  admin: "console-admin-token-01234567",
};
const bearer = (name: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[name]}` });

describe("console WebSocket and writer lease", () => {
  let kernel: FakeKernel;
  let daemon: Daemon;
  let wsBase: string;
  const clients: ConsoleClient[] = [];
  const connect = (path: string, headers: Record<string, string> = {}) => {
    const client = openConsole(`${wsBase}${path}`, headers);
    clients.push(client);
    return client;
  };
  const writes = () =>
    Buffer.concat(kernel.wire.flatMap((op) => (op.op === "write" ? [op.bytes] : []))).toString("latin1");

  before(async () => {
    kernel = new FakeKernel();
    daemon = await startFakeKernelDaemon(kernel, {
      listen: true,
      config: {
        auth: {
          tokens: [
            { name: "reader", role: "read", sha256: sha256(TOKENS.reader).toString("hex") },
            { name: "rig", role: "operate", sha256: sha256(TOKENS.rig).toString("hex") },
            { name: "rig2", role: "operate", sha256: sha256(TOKENS.rig2).toString("hex") },
            { name: "admin", role: "admin", sha256: sha256(TOKENS.admin).toString("hex") },
          ],
        },
      },
    });
    wsBase = daemon.url.replace(/^http/, "ws");
  });
  after(async () => {
    for (const client of clients) client.socket.terminate();
    await daemon.close();
  });
  beforeEach(() => {
    kernel.wire.length = 0;
  });

  it("authenticates by header or first frame, and closes 4401 otherwise", async () => {
    const byFrame = connect("/ports/vm0/console");
    byFrame.socket.once("open", () => byFrame.control({ type: "auth", token: TOKENS.reader }));
    const hello = await byFrame.next("hello");
    assert.deepEqual([hello["name"], hello["role"], hello["lease"]], ["reader", "read", null]);
    const wrong = connect("/ports/vm0/console");
    wrong.socket.once("open", () => wrong.control({ type: "auth", token: "nope-nope-nope-nope" }));
    assert.equal((await wrong.closed).code, 4401);
    const badHeader = connect("/ports/vm0/console", { authorization: "Bearer nope-nope-nope-nope" });
    assert.equal((await badHeader.closed).code, 4401);
    byFrame.socket.close();
  });

  it("refuses the upgrade for a foreign Origin (a web page elsewhere must not type into a root shell)", async () => {
    const upgrade = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(`${daemon.url}/ports/vm0/console`, {
          headers: {
            connection: "Upgrade",
            upgrade: "websocket",
            "sec-websocket-version": "13",
            "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
            ...headers,
          },
        });
        req.on("response", (res) => resolve(res.statusCode ?? 0));
        req.on("upgrade", (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
    assert.equal(await upgrade({ origin: "http://evil.example", ...bearer("rig") }), 403);
    const host = new URL(daemon.url).host;
    assert.equal(await upgrade({ origin: `http://${host}`, ...bearer("rig") }), 101, "its own page may");
    assert.equal(await upgrade(bearer("rig")), 101, "so may a client that is not a browser");
  });

  it("relays typed input only for the lease holder, and output to every viewer", async () => {
    const rig = connect("/ports/vm0/console", bearer("rig"));
    const viewer = connect("/ports/vm0/console", bearer("reader"));
    await rig.next("hello");
    await viewer.next("hello");
    rig.input("dropped\r");
    assert.equal((await rig.next("error"))["code"], "LEASE_REQUIRED");
    viewer.input("reader types\r");
    assert.equal((await viewer.next("error"))["code"], "FORBIDDEN");
    rig.control({ type: "lease", action: "take" });
    const taken = await rig.next("lease", (m) => m["yours"] === true);
    assert.equal((taken["lease"] as { holder: string }).holder, "rig");
    assert.equal(((await viewer.next("lease"))["lease"] as { holder: string }).holder, "rig");
    rig.input("echo hi\r");
    // The fake kernel echoes typed bytes, as a shell would: both viewers see them.
    await rig.waitForOutput("echo hi\r");
    await viewer.waitForOutput("echo hi\r");
    assert.equal(writes(), "echo hi\r", "nothing else reached the wire");

    const metrics = await (await fetch(`${daemon.url}/metrics`, { headers: bearer("reader") })).text();
    assert.match(metrics, /sysrq_bridge_console_viewers\{port="vm0"\} 2/);
    assert.match(metrics, /sysrq_bridge_lease_held\{port="vm0",via="websocket"\} 1/);
    const info = await fetch(`${daemon.url}/ports/vm0`, { headers: bearer("reader") });
    const body = (await info.json()) as { lease: { holder: string; via: string }; viewers: number };
    assert.deepEqual([body.lease.holder, body.lease.via, body.viewers], ["rig", "websocket", 2]);

    const rival = await fetch(`${daemon.url}/ports/vm0/write`, {
      method: "POST",
      headers: { ...bearer("rig2"), "content-type": "application/json" },
      body: JSON.stringify({ data: "intruder\r" }),
    });
    assert.equal(rival.status, 409);
    assert.equal(((await rival.json()) as { code: string }).code, "LEASE_HELD");
    const rivalLease = await fetch(`${daemon.url}/ports/vm0/lease`, {
      method: "POST",
      headers: { ...bearer("rig2"), "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(rivalLease.status, 409);

    rig.socket.close();
    await rig.closed;
    await waitUntil(() => daemon.ports.get("vm0").lease.current === null, 2000, "lease released on close");
    viewer.socket.close();
  });

  it("lets an HTTP harness hold the lease for a time to live, and an admin take it over", async () => {
    const post = (name: keyof typeof TOKENS, path: string, body: object, method = "POST") =>
      fetch(`${daemon.url}${path}`, {
        method,
        headers: { ...bearer(name), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const taken = (await (await post("rig2", "/ports/vm0/lease", { ttlMs: 5000 })).json()) as {
      leaseId: string;
    };
    assert.equal(
      (await post("rig2", "/ports/vm0/write", { data: "a\r", leaseId: taken.leaseId })).status,
      200,
    );
    assert.equal((await post("rig", "/ports/vm0/write", { data: "b\r" })).status, 409);
    assert.equal((await post("rig", "/ports/vm0/lease", { takeover: true })).status, 403);
    const admin = (await (await post("admin", "/ports/vm0/lease", { takeover: true })).json()) as {
      leaseId: string;
      holder: string;
    };
    assert.equal(admin.holder, "admin");
    assert.equal(
      (await post("rig2", "/ports/vm0/write", { data: "c\r", leaseId: taken.leaseId })).status,
      409,
    );
    const released = await post("admin", "/ports/vm0/lease", { leaseId: admin.leaseId }, "DELETE");
    assert.deepEqual(await released.json(), { released: true });
    assert.equal(writes(), "a\r");
  });

  it("refuses a BREAK without the writer lease: a lease-less viewer's BREAK + 'hecho X' sends nothing", async () => {
    // Before issue 13 a viewer without the lease sent {"type":"break"} then "hecho X\r": the kernel
    // ran SysRq h and the shell got "echo X". A BREAK now needs the lease, as typing does.
    const rig = connect("/ports/vm0/console", bearer("rig"));
    await rig.next("hello");
    rig.control({ type: "break" });
    rig.input("hecho X\r");
    const refused = await rig.next("error");
    assert.equal(refused["code"], "LEASE_REQUIRED");
    assert.match(refused["message"] as string, /BREAK needs the writer lease/);
    assert.equal((await rig.next("error"))["code"], "LEASE_REQUIRED", "the text after it is dropped too");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(kernel.wire, [], "nothing reached the wire");
    rig.socket.close();
    await rig.closed;
  });

  it("with the lease, a BREAK's next byte is a SysRq key through the key guard, audited with its verdict", async () => {
    const rig = connect("/ports/vm0/console", bearer("rig"));
    await rig.next("hello");
    rig.control({ type: "lease", action: "take" });
    await rig.next("lease", (m) => m["yours"] === true);
    rig.control({ type: "break" });
    await waitUntil(() => kernel.wire.some((op) => op.op === "break"), 2000, "BREAK on the wire");
    rig.input("b"); // reboot: admin only
    assert.equal((await rig.next("error"))["code"], "FORBIDDEN");
    assert.deepEqual(
      kernel.wire.map((op) => op.op),
      ["break", "break"],
      "the refused key was never written; a second BREAK cancelled the arm",
    );
    rig.control({ type: "break" });
    await waitUntil(() => kernel.wire.length === 3, 2000, "third BREAK");
    rig.input("hecho hi\r");
    await rig.waitForOutput("sysrq: HELP");
    await rig.waitForOutput("echo hi\r");
    assert.equal(writes(), "hecho hi\r", "the key, then the holder's text");
    rig.socket.close();
    await rig.closed;
    type Audit = {
      entries: { token: string; action: string; displaced?: string; bytes?: number; [k: string]: unknown }[];
    };
    const readAudit = async (): Promise<Audit> =>
      (await (await fetch(`${daemon.url}/audit?port=vm0`, { headers: bearer("admin") })).json()) as Audit;
    // The h record is written once its verdict settles (settleMs after the console goes quiet).
    let audit = await readAudit();
    await waitUntil(
      async () =>
        (audit = await readAudit()).entries.some((e) => e.action === "console-sysrq" && e["key"] === "h"),
      3000,
      "the h key's audit record",
    );
    const actions = audit.entries.map((e) => `${e.token}:${e.action}`);
    for (const expected of ["rig:lease-take", "admin:lease-take", "rig:console-break", "rig:console-input"]) {
      assert.ok(actions.includes(expected), `${expected} in ${actions.join(" ")}`);
    }
    assert.equal(
      audit.entries.find((e) => e.action === "lease-take" && e.token === "admin")?.displaced,
      "rig2",
    );
    const keys = audit.entries.filter((e) => e.action === "console-sysrq");
    assert.deepEqual(
      keys.slice(-2).map((e) => [e["key"], e["verdict"], e["code"] ?? e["sysrqAction"]]),
      [
        ["b", "refused", "FORBIDDEN"],
        ["h", "acknowledged", "HELP"],
      ],
    );
    const refusedBreaks = audit.entries.filter(
      (e) => e.action === "console-break" && e["code"] === "LEASE_REQUIRED",
    );
    assert.ok(refusedBreaks.length >= 1, "the lease-less BREAK is audited as refused");
  });

  it("forwards nothing after the key once the lease is gone (an admin took it over after the BREAK)", async () => {
    const rig = connect("/ports/vm0/console", bearer("rig"));
    await rig.next("hello");
    rig.control({ type: "lease", action: "take" });
    await rig.next("lease", (m) => m["yours"] === true);
    rig.control({ type: "break" });
    await waitUntil(() => kernel.wire.some((op) => op.op === "break"), 2000, "BREAK on the wire");
    const takeover = await fetch(`${daemon.url}/ports/vm0/lease`, {
      method: "POST",
      headers: { ...bearer("admin"), "content-type": "application/json" },
      body: JSON.stringify({ takeover: true }),
    });
    assert.equal(takeover.status, 200);
    const { leaseId } = (await takeover.json()) as { leaseId: string };
    await rig.next("lease", (m) => m["yours"] === false);
    rig.input("hecho Y\r");
    await rig.waitForOutput("sysrq: HELP");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(writes(), "h", "the key went (its BREAK had the lease); the text after it did not");
    await fetch(`${daemon.url}/ports/vm0/lease`, {
      method: "DELETE",
      headers: { ...bearer("admin"), "content-type": "application/json" },
      body: JSON.stringify({ leaseId }),
    });
    rig.socket.close();
    await rig.closed;
  });

  it("joins a backlog from the capture to the live stream, and drops a viewer that stops reading", async () => {
    kernel.transports.at(-1)?.print("before attach\r\n");
    await waitUntil(() => daemon.ports.get("vm0").capture.size > 0, 2000, "captured");
    const late = connect("/ports/vm0/console?backlog=4096", bearer("reader"));
    const hello = await late.next("hello");
    kernel.transports.at(-1)?.print("after attach\r\n");
    await late.waitForOutput("after attach\r\n");
    const text = late.output().toString("latin1");
    assert.ok(text.includes("before attach\r\n"));
    assert.equal(text.split("after attach").length, 2, "no duplicate");
    const capture = await daemon.ports.get("vm0").capture.read(hello["offset"] as number, 1 << 20);
    assert.ok(capture.data.equals(late.output()), "the stream equals the capture from the hello offset");
    late.socket.close();

    const slow = connect("/ports/vm0/console", bearer("reader"));
    await slow.next("hello");
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const flood = Buffer.alloc(64 * 1024, "x");
    for (let i = 0; i < 160 && slow.socket.readyState === slow.socket.OPEN; i++) {
      kernel.transports.at(-1)?.print(flood.toString("latin1"));
      await new Promise((resolve) => setImmediate(resolve));
    }
    (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.equal((await slow.closed).code, 4429);
  });
});

describe("console WebSocket without tokens (loopback only)", () => {
  it("refuses a Host that is not a loopback name: a DNS-rebinding page cannot reach a root shell", async () => {
    const daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
      createTransport: new FakeKernel().factory,
    });
    try {
      const attempt = (host: string, origin?: string) =>
        daemon.app.inject({
          method: "GET",
          url: "/ports/vm0/console",
          headers: { host, ...(origin === undefined ? {} : { origin }) },
        });
      const rebinding = await attempt("evil.example:8420", "http://evil.example:8420");
      assert.equal(rebinding.statusCode, 403);
      assert.match(rebinding.json<{ message: string }>().message, /not a loopback name/);
      // Allowed past the origin check: a plain GET then fails as not-a-WebSocket, not as forbidden.
      assert.notEqual((await attempt("127.0.0.1:8420", "http://127.0.0.1:8420")).statusCode, 403);
      assert.notEqual((await attempt("localhost:8420")).statusCode, 403);
    } finally {
      await daemon.close();
    }
  });
});
