import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon } from "../helpers/daemon.js";
import { makeSelfSignedCert } from "../helpers/tls.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("openssl");
const TOKEN = "tls-test-token-0123456789abcdef";

function get(url: string, ca: Buffer, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(
      url,
      { ca, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    request.on("error", reject);
  });
}

describe("TLS listener", { skip }, () => {
  let daemon: Daemon;
  let ca: Buffer;

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-tls-"));
    const { cert, key } = makeSelfSignedCert(dir);
    ca = await readFile(cert);
    daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
      createTransport: new FakeKernel().factory,
      listen: true,
      config: {
        listen: { host: "127.0.0.1", port: 0, tls: { cert, key } },
        auth: { tokens: [{ name: "ops", role: "read", sha256: sha256(TOKEN).toString("hex") }] },
      },
    });
  });
  after(() => daemon.close());

  it("serves the API over HTTPS with the configured certificate", async () => {
    assert.match(daemon.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await get(`${daemon.url}/healthz`, ca)).status, 200);
    assert.equal((await get(`${daemon.url}/ports`, ca)).status, 401);
    const ports = await get(`${daemon.url}/ports`, ca, TOKEN);
    assert.equal(ports.status, 200);
    assert.equal((JSON.parse(ports.body) as { id: string }[])[0]?.id, "vm0");
    await assert.rejects(
      fetch(`${daemon.url.replace("https", "http")}/healthz`),
      "no plain HTTP on that port",
    );
  });
});
