/**
 * DNS rebinding against the HTTP API: without tokens every caller is admin, so a page on
 * evil.example whose name resolves to 127.0.0.1 (Host and Origin then agree) must not reach any
 * route. Real HTTP requests to the daemon listening on 127.0.0.1.
 */
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel, type WireOp } from "../kit/index.js";
import { startTestDaemon } from "../helpers/daemon.js";

const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };

interface Answer {
  readonly status: number;
  readonly body: { code?: string; message?: string };
}

/** One request with exactly these headers (fetch would not let a test choose Host). */
function request(base: string, method: string, path: string, headers: Record<string, string>, body?: string) {
  const url = new URL(path, base);
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => {
          let parsed: Answer["body"] = {};
          try {
            parsed = JSON.parse(text) as Answer["body"];
          } catch {
            /* not JSON (a page, metrics) */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("open mode (no tokens) answers loopback Host names only", () => {
  let daemon: Daemon;
  let kernel: FakeKernel;
  let port: number;

  before(async () => {
    kernel = new FakeKernel();
    daemon = await startTestDaemon({
      ports: [{ id: "trap", transport: telnet }],
      createTransport: kernel.factory,
      listen: true,
    });
    port = Number(new URL(daemon.url).port);
  });
  after(() => daemon.close());

  const writes = (): number => kernel.wire.filter((op: WireOp) => op.op === "write").length;

  it("refuses a rebinding page's write (Host evil.example, matching Origin): 403 HOST_NOT_ALLOWED, nothing sent", async () => {
    const before = writes();
    const answer = await request(
      daemon.url,
      "POST",
      "/ports/trap/write",
      { host: `evil.example:${port}`, origin: `http://evil.example:${port}` },
      JSON.stringify({ data: "reboot\r" }),
    );
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, "HOST_NOT_ALLOWED");
    assert.match(answer.body.message ?? "", /evil\.example.*not a loopback name/);
    assert.equal(writes(), before, "no byte reached the line");
  });

  it("refuses a foreign Host on every route, public ones and unknown paths included", async () => {
    for (const [method, path] of [
      ["GET", "/healthz"],
      ["GET", "/ports"],
      ["GET", "/ports/trap/log"],
      ["GET", "/metrics"],
      ["GET", "/ui/"],
      ["GET", "/docs/json"],
      ["POST", "/ports/trap/sysrq"],
      ["GET", "/nowhere"],
    ] as const) {
      for (const host of [
        `evil.example:${port}`,
        "evil.example",
        `192.168.1.5:${port}`,
        `localhost.evil.example:${port}`,
      ]) {
        const answer = await request(daemon.url, method, path, { host });
        assert.equal(answer.status, 403, `${method} ${path} Host ${host}`);
        assert.equal(answer.body.code, "HOST_NOT_ALLOWED");
      }
    }
  });

  it("refuses a foreign Origin with a loopback Host: 403 ORIGIN_NOT_ALLOWED", async () => {
    for (const origin of [
      "http://evil.example",
      `http://evil.example:${port}`,
      "null",
      `http://localhost:${port + 1}`,
    ]) {
      const answer = await request(
        daemon.url,
        "POST",
        "/ports/trap/write",
        { host: `127.0.0.1:${port}`, origin },
        JSON.stringify({ data: "x" }),
      );
      assert.equal(answer.status, 403, origin);
      assert.equal(answer.body.code, "ORIGIN_NOT_ALLOWED");
    }
  });

  it("answers loopback names, with or without a same-host Origin", async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
      "127.0.0.1",
    ]) {
      assert.equal((await request(daemon.url, "GET", "/ports/trap", { host })).status, 200, host);
    }
    const sameOrigin = await request(daemon.url, "GET", "/ports/trap", {
      host: `localhost:${port}`,
      origin: `http://localhost:${port}`,
    });
    assert.equal(sameOrigin.status, 200);
    const before = writes();
    const write = await request(
      daemon.url,
      "POST",
      "/ports/trap/write",
      { host: `127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` },
      JSON.stringify({ data: "uname\r" }),
    );
    assert.equal(write.status, 200, "the same write from a loopback page is accepted");
    assert.equal(writes(), before + 1);
  });
});

describe("with tokens, Host is not restricted (the daemon may listen on a lab network)", () => {
  it("answers a token holder whatever name it used", async () => {
    const secret = "admin-token-0123456789abcdef";
    const daemon = await startTestDaemon({
      ports: [{ id: "trap", transport: telnet }],
      createTransport: new FakeKernel().factory,
      listen: true,
      config: {
        auth: { tokens: [{ name: "admin", role: "admin", sha256: sha256(secret).toString("hex") }] },
      },
    });
    try {
      const answer = await request(daemon.url, "GET", "/ports/trap", {
        host: "bridge.lab.example:8420",
        authorization: `Bearer ${secret}`,
      });
      assert.equal(answer.status, 200);
    } finally {
      await daemon.close();
    }
  });
});
