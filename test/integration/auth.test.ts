import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { mkdtemp } from "node:fs/promises";
import { Writable } from "node:stream";
import { after, before, beforeEach, describe, it } from "node:test";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { createStreamLogger } from "../../src/logger.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const telnet = { kind: "telnet", host: "127.0.0.1", port: 4555 };
const SECRETS = {
  reader: "reader-token-0123456789abcdef",
  rig: "rig-7-token-0123456789abcdef",
  alice: "alice-token-0123456789abcdef",
  grafana: "grafana-token-0123456789abcdef",
};

interface ErrorBody {
  code: string;
  message: string;
  requiredRole?: string;
}
interface AuditEntry {
  seq: number;
  token: string;
  action: string;
  port?: string;
  status: number;
  code?: string;
  requestId: string;
  client: string;
  keys?: string;
  verdicts?: string[];
}

/** Collects the daemon's log lines, to prove no secret ever reaches them. */
class LogSink extends Writable {
  text = "";
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString("utf8");
    done();
  }
}

async function tokensConfig(dir: string) {
  const aliceFile = path.join(dir, "alice.token");
  await writeFile(aliceFile, `  ${SECRETS.alice}\n\n`);
  process.env["SYSRQ_BRIDGE_TEST_READ_TOKEN"] = SECRETS.grafana;
  return {
    tokens: [
      { name: "reader", role: "read", sha256: sha256(SECRETS.reader).toString("hex") },
      { name: "rig-7", role: "operate", sha256: sha256(SECRETS.rig).toString("hex"), ports: ["vm0"] },
      { name: "alice", role: "admin", file: aliceFile },
      { name: "grafana", role: "read", env: "SYSRQ_BRIDGE_TEST_READ_TOKEN" },
    ],
  };
}

describe("authentication, roles and audit", () => {
  let kernel: FakeKernel;
  let daemon: Daemon & { captureDir: string };
  const logs = new LogSink();

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-bridge-auth-"));
    kernel = new FakeKernel();
    daemon = await startTestDaemon({
      ports: [
        { id: "vm0", transport: telnet },
        { id: "vm1", transport: telnet },
      ],
      createTransport: kernel.factory,
      captureDir: dir,
      config: { auth: await tokensConfig(dir) },
      logStream: logs,
    });
    await waitUntil(() => daemon.ports.list().every((p) => p.info().state === "open"), 2000, "ports open");
  });
  after(() => daemon.close());
  beforeEach(() => {
    kernel.wire.length = 0;
  });

  const call = (method: "GET" | "POST", url: string, token?: keyof typeof SECRETS, payload?: object) =>
    daemon.app.inject({
      method,
      url,
      headers: token === undefined ? {} : { authorization: `Bearer ${SECRETS[token]}` },
      ...(payload === undefined ? {} : { payload }),
    });

  const auditEntries = async (): Promise<AuditEntry[]> =>
    (await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as AuditEntry);

  it("leaves /healthz open and refuses everything else without a valid token: 401 UNAUTHORIZED", async () => {
    assert.equal((await call("GET", "/healthz")).statusCode, 200);
    for (const authorization of [
      undefined,
      "Bearer wrong-token-0123456789",
      `Basic ${SECRETS.alice}`,
      "Bearer",
    ]) {
      const res = await daemon.app.inject({
        method: "GET",
        url: "/ports",
        headers: authorization === undefined ? {} : { authorization },
      });
      assert.equal(res.statusCode, 401, String(authorization));
      assert.equal(res.json<ErrorBody>().code, "UNAUTHORIZED");
      assert.match(String(res.headers["www-authenticate"]), /^Bearer /);
    }
    const res = await call("POST", "/ports/vm0/sysrq", undefined, { keys: "h" });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(kernel.wire, [], "nothing reached the wire");
  });

  it("read tokens (sha256 or env) see every port but cannot act: 403 FORBIDDEN naming the role", async () => {
    for (const token of ["reader", "grafana"] as const) {
      const list = await call("GET", "/ports", token);
      assert.equal(list.statusCode, 200);
      assert.deepEqual(
        list.json<{ id: string }[]>().map((p) => p.id),
        ["vm0", "vm1"],
      );
      assert.equal((await call("GET", "/ports/vm1/log", token)).statusCode, 200);
      const res = await call("POST", "/ports/vm0/sysrq", token, { keys: "h" });
      assert.equal(res.statusCode, 403);
      assert.equal(res.json<ErrorBody>().code, "FORBIDDEN");
      assert.equal(res.json<ErrorBody>().requiredRole, "operate");
    }
    assert.deepEqual(kernel.wire, []);
  });

  it("an operate token limited to vm0 sees only vm0, sends harmless keys, and no destructive key at all", async () => {
    const list = await call("GET", "/ports", "rig");
    assert.deepEqual(
      list.json<{ id: string }[]>().map((p) => p.id),
      ["vm0"],
    );
    const other = await call("GET", "/ports/vm1", "rig");
    assert.equal(other.statusCode, 403);
    assert.equal(other.json<ErrorBody>().code, "FORBIDDEN");
    assert.equal((await call("POST", "/ports/vm1/sysrq", "rig", { keys: "h" })).statusCode, 403);

    const ok = await call("POST", "/ports/vm0/sysrq", "rig", { keys: "h", settleMs: 0 });
    assert.equal(ok.statusCode, 200);
    assert.equal(kernel.wire.filter((op) => op.op === "break").length, 1);
    kernel.wire.length = 0;

    for (const keys of ["b", "hc", "so", "e", "i", "k", "f"]) {
      const res = await call("POST", "/ports/vm0/sysrq", "rig", { keys });
      assert.equal(res.statusCode, 403, keys);
      assert.equal(res.json<ErrorBody>().requiredRole, "admin");
    }
    assert.deepEqual(kernel.wire, [], "a refused sequence sends nothing, not even its harmless prefix");
    assert.equal((await call("POST", "/ports/vm0/break", "rig", {})).statusCode, 200);
    // The key after that BREAK: the kernel's arm is consumed (both ports share one fake kernel).
    assert.equal((await call("POST", "/ports/vm0/sysrq", "rig", { keys: "h", settleMs: 0 })).statusCode, 200);
    const nmi = await call("POST", "/ports/vm0/nmi", "rig", {});
    assert.equal(nmi.statusCode, 403);
    assert.equal(nmi.json<ErrorBody>().requiredRole, "admin");
    assert.equal((await call("GET", "/audit", "rig")).statusCode, 403);
    const dump = await call("GET", "/incidents/1/dump", "rig");
    assert.equal(dump.statusCode, 403, "guest memory dumps are for admins");
    assert.equal(dump.json<ErrorBody>().requiredRole, "admin");
  });

  it("an admin token read from a file (whitespace trimmed) may send destructive keys", async () => {
    const res = await call("POST", "/ports/vm1/sysrq", "alice", { keys: "e", settleMs: 0 });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json<{ results: { verdict: string }[] }>().results[0]?.verdict, "acknowledged");
  });

  it("audits every action before answering: who, from where, which port, what, the verdicts", async () => {
    const res = await call("POST", "/ports/vm0/sysrq", "rig", { keys: "hm", settleMs: 0 });
    assert.equal(res.statusCode, 200);
    // Read at once: the record was written before the response left.
    const entries = await auditEntries();
    const last = entries.at(-1);
    assert.ok(last);
    assert.equal(last.requestId, res.headers["x-request-id"]);
    assert.deepEqual(
      { token: last.token, action: last.action, port: last.port, status: last.status, keys: last.keys },
      { token: "rig-7", action: "sysrq", port: "vm0", status: 200, keys: "hm" },
    );
    assert.deepEqual(last.verdicts, ["acknowledged", "acknowledged"]);
    assert.equal(last.client, "127.0.0.1");
    const refused = entries.find((e) => e.code === "FORBIDDEN" && e.keys === "b");
    assert.ok(refused, "refused attempts are audited with their code");
    assert.equal(refused.token, "rig-7");
    assert.ok(
      entries.every((e) => e.token !== "anonymous"),
      "requests without a valid token are not audit records",
    );
    const text = await readFile(path.join(daemon.captureDir, "audit.jsonl"), "utf8");
    for (const secret of Object.values(SECRETS)) assert.ok(!text.includes(secret));
    const seqs = entries.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
    );
  });

  it("GET /audit pages by seq and filters by port, for admins", async () => {
    const all = await call("GET", "/audit", "alice");
    assert.equal(all.statusCode, 200);
    const body = all.json<{ entries: AuditEntry[]; next: number }>();
    assert.ok(body.entries.length >= 5);
    const vm1 = await call("GET", "/audit?port=vm1", "alice");
    assert.ok(vm1.json<{ entries: AuditEntry[] }>().entries.every((e) => e.port === "vm1"));
    const page = await call("GET", "/audit?since=2&limit=2", "alice");
    const paged = page.json<{ entries: AuditEntry[]; next: number }>();
    assert.deepEqual(
      paged.entries.map((e) => e.seq),
      [2, 3],
    );
    assert.equal(paged.next, 4);
    const bad = await call("GET", "/audit?since=x&extra=1", "alice");
    assert.equal(bad.statusCode, 400);
  });

  it("never writes a token to the log", async () => {
    await daemon.app.inject({
      method: "GET",
      url: "/ports",
      headers: { authorization: `Bearer ${SECRETS.rig}x` },
    });
    const log = createStreamLogger("info", logs);
    log.info(
      { req: { headers: { authorization: `Bearer ${SECRETS.alice}` } }, password: SECRETS.reader },
      "x",
    );
    log.info({ headers: { authorization: `Bearer ${SECRETS.grafana}` } }, "y");
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(logs.text.includes("request without a valid token refused"), "the daemon did log");
    assert.ok(logs.text.includes("[redacted]"));
    for (const secret of Object.values(SECRETS)) assert.ok(!logs.text.includes(secret), secret);
  });
});

describe("rate limit per token", () => {
  let daemon: Daemon;
  before(async () => {
    const kernel = new FakeKernel();
    daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: telnet }],
      createTransport: kernel.factory,
      config: {
        auth: {
          tokens: [
            { name: "a", role: "read", sha256: sha256(SECRETS.reader).toString("hex") },
            { name: "b", role: "read", sha256: sha256(SECRETS.grafana).toString("hex") },
          ],
        },
        rateLimit: { max: 3, timeWindowMs: 60_000 },
      },
    });
  });
  after(() => daemon.close());

  it("answers 429 RATE_LIMITED with Retry-After past the limit, for that token only", async () => {
    const get = (secret: string) =>
      daemon.app.inject({ method: "GET", url: "/ports", headers: { authorization: `Bearer ${secret}` } });
    for (let i = 0; i < 3; i++) assert.equal((await get(SECRETS.reader)).statusCode, 200);
    const limited = await get(SECRETS.reader);
    assert.equal(limited.statusCode, 429);
    assert.equal(limited.json<ErrorBody>().code, "RATE_LIMITED");
    assert.ok(Number(limited.headers["retry-after"]) > 0);
    assert.equal((await get(SECRETS.grafana)).statusCode, 200, "another token has its own budget");
    for (let i = 0; i < 5; i++) {
      assert.equal((await daemon.app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
    }
  });
});
