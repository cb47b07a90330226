/**
 * What a caller sees and what the log keeps: viewers count re-export clients too, /metrics shows a
 * port-scoped token only its ports, failed authentications are limited per address (429 with
 * Retry-After, valid token or not) and logged once per episode, and a token in a URL's query never
 * reaches the log. Real HTTP requests to the daemon listening on 127.0.0.1.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { Writable } from "node:stream";
import WebSocket from "ws";
import { after, before, describe, it } from "node:test";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { RawClient } from "../helpers/export-clients.js";
import { openConsole } from "../helpers/ws.js";

const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };
const ADMIN = "admin-token-0123456789abcdef";
const RIG = "rig-7-token-0123456789abcdef";

class LogSink extends Writable {
  text = "";
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString("utf8");
    done();
  }
  lines(): { level: number; msg: string; client?: string }[] {
    return this.text
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { level: number; msg: string });
  }
}

interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
}

/** A GET over a real socket; `from` binds the client's address (any 127.x is this machine). */
function get(url: string, token?: string, from?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
        ...(from === undefined ? {} : { localAddress: from }),
        agent: false,
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
  });
}

describe("viewers counts every console client, whichever door", () => {
  let daemon: Daemon;
  before(async () => {
    daemon = await startTestDaemon({
      ports: [
        { id: "vm0", transport: telnet, export: { telnet: { host: "127.0.0.1", port: 0, mode: "ro" } } },
      ],
      createTransport: new FakeKernel().factory,
      listen: true,
    });
  });
  after(() => daemon.close());

  const viewers = async () =>
    (JSON.parse((await get(`${daemon.url}/ports/vm0`)).text) as { viewers: number }).viewers;
  const metric = async () =>
    /sysrq_bridge_console_viewers\{port="vm0"\} (\d+)/.exec((await get(`${daemon.url}/metrics`)).text)?.[1];

  it("counts telnet re-export clients beside WebSocket viewers, in GET /ports/:id and the metric", async () => {
    assert.equal(await viewers(), 0);
    const telnetClient = await RawClient.connect(daemon.exports.address("vm0", "telnet") as number);
    const ws = openConsole(`${daemon.url.replace("http", "ws")}/ports/vm0/console`);
    try {
      await waitUntil(async () => (await viewers()) === 2, 5000, "two viewers");
      assert.equal(await metric(), "2");
      await telnetClient.close();
      await waitUntil(async () => (await viewers()) === 1, 5000, "the telnet client gone");
      assert.equal(await metric(), "1");
    } finally {
      ws.socket.close();
    }
    await waitUntil(async () => (await viewers()) === 0, 5000, "no viewer");
  });
});

describe("with tokens: metrics scope, failed authentications, query-string tokens", () => {
  let daemon: Daemon;
  const sink = new LogSink();
  before(async () => {
    daemon = await startTestDaemon({
      ports: [
        { id: "vm0", transport: telnet },
        { id: "vm1", transport: { ...telnet, port: 4556 } },
      ],
      createTransport: new FakeKernel().factory,
      listen: true,
      logStream: sink,
      config: {
        auth: {
          tokens: [
            { name: "admin", role: "admin", sha256: sha256(ADMIN).toString("hex") },
            { name: "rig-7", role: "read", sha256: sha256(RIG).toString("hex"), ports: ["vm0"] },
          ],
        },
        rateLimit: { max: 100_000, timeWindowMs: 60_000, authFailures: 10 },
      },
    });
  });
  after(() => daemon.close());

  it("shows a token scoped to vm0 only vm0's series in /metrics; an unscoped token sees both", async () => {
    const scoped = await get(`${daemon.url}/metrics`, RIG);
    assert.equal(scoped.status, 200);
    assert.match(scoped.text, /sysrq_bridge_port_state\{port="vm0",state="open"\}/);
    assert.doesNotMatch(scoped.text, /port="vm1"/);
    assert.match(scoped.text, /sysrq_bridge_http_requests_total/, "daemon-wide series stay");
    assert.match((await get(`${daemon.url}/metrics`, ADMIN)).text, /port="vm1"/);
  });

  it("redacts a token sent in the query string from every log line", async () => {
    const secret = "query-token-SECRET-0123456789";
    await get(`${daemon.url}/ports/vm0/log?token=${secret}`, ADMIN);
    await get(`${daemon.url}/nowhere?limit=1&access_token=${secret}&x=1`, ADMIN);
    await waitUntil(() => sink.text.includes("/nowhere?"), 2000, "the access log line");
    assert.ok(!sink.text.includes(secret), "the query token reached the log");
    assert.match(sink.text, /access_token=\[redacted\]&x=1/);
  });

  it("answers 429 with Retry-After after 10 failures from an address, valid token or not; one warning per episode", async () => {
    const from = "127.0.0.7";
    const warnings = () => sink.lines().filter((l) => l.level === 40 && l.client === from).length;
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1)
      statuses.push((await get(`${daemon.url}/ports`, `wrong-${i}-0123456789abcdef`, from)).status);
    assert.deepEqual(statuses.slice(0, 10), Array(10).fill(401));
    assert.deepEqual(statuses.slice(10), Array(20).fill(429));
    const blocked = await get(`${daemon.url}/ports`, ADMIN, from);
    assert.equal(blocked.status, 429, "a guess that happens to be right is refused too while blocked");
    assert.match(String(blocked.headers["retry-after"]), /^\d+$/);
    assert.ok(Number(blocked.headers["retry-after"]) <= 60);
    assert.match(blocked.text, /RATE_LIMITED/);
    // A flood: 3000 more from the blocked address.
    await Promise.all(
      Array.from({ length: 20 }, async (_, worker) => {
        for (let i = 0; i < 150; i += 1)
          await get(`${daemon.url}/ports`, `flood-${worker}-${i}-0123456789`, from);
      }),
    );
    assert.equal(warnings(), 2, "the first failure and the block, not one warning per failure");
    // Another address is not affected.
    assert.equal((await get(`${daemon.url}/ports`, ADMIN, "127.0.0.8")).status, 200);
    assert.equal(
      (await get(`${daemon.url}/healthz`, undefined, from)).status,
      200,
      "public routes stay open",
    );
  });

  it("counts the console WebSocket's token checks too, and refuses a blocked address there", async () => {
    const from = "127.0.0.9";
    const attempt = (token: string) =>
      new Promise<number>((resolve) => {
        const socket = new WebSocket(`${daemon.url.replace("http", "ws")}/ports/vm0/console`, {
          headers: { authorization: `Bearer ${token}` },
          localAddress: from,
        });
        socket.on("error", () => resolve(-1));
        socket.on("close", (code) => resolve(code));
        socket.on("open", () => setTimeout(() => socket.close(1000), 300));
      });
    for (let i = 0; i < 10; i += 1) assert.equal(await attempt(`ws-wrong-${i}-0123456789abcdef`), 4401);
    assert.equal(await attempt(ADMIN), 4401, "blocked: even a valid token is refused");
    assert.equal((await get(`${daemon.url}/ports`, ADMIN, from)).status, 429, "and over HTTP");
    assert.equal((await get(`${daemon.url}/ports`, ADMIN, "127.0.0.10")).status, 200, "others are not");
  });
});
