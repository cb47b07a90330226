/**
 * The webhook engine against real HTTP receivers in this process: signatures and headers, the same
 * delivery id on every retry, order, backoff, the pending cap, a receiver that floods, trickles or
 * never answers, deliveries kept on disk across a stop, and the secret kept out of every log line.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import { resolveConfig } from "../../../src/config/load.js";
import { SecretValue, type WebhookConfig } from "../../../src/config/types.js";
import type { BridgeEvent } from "../../../src/recovery/events.js";
import { journalDir } from "../../../src/recovery/webhooks/journal.js";
import { backoffMs, type DeliveryResult } from "../../../src/recovery/webhooks/queue.js";
import { Webhooks } from "../../../src/recovery/webhooks/webhooks.js";
import { waitUntil } from "../../helpers/daemon.js";
import { freeTcpPort } from "../../kit/index.js";

const SECRET = "unit-test-webhook-secret-5f2a9c";

interface Received {
  readonly delivery: string;
  readonly type: string;
  readonly signature: string;
  readonly body: Buffer;
  readonly at: number;
}

type Answer = (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void;

async function receiver(answer: Answer): Promise<{ url: string; got: Received[]; server: http.Server }> {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got.push({
        delivery: String(req.headers["x-sysrq-bridge-delivery"]),
        type: String(req.headers["x-sysrq-bridge-event"]),
        signature: String(req.headers["x-sysrq-bridge-signature"]),
        body: Buffer.concat(chunks),
        at: Date.now(),
      });
      answer(req, res, got.length);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook?x=1`, got, server };
}

function stop(server: http.Server): void {
  server.close();
  server.closeAllConnections();
}

function hook(url: string, over: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    name: "test",
    url,
    secret: new SecretValue(SECRET),
    events: null,
    timeoutMs: 2000,
    retry: { initialMs: 100, maxMs: 400, forMs: 60_000 },
    maxPending: 100,
    ...over,
  };
}

class Counts {
  readonly results: Record<DeliveryResult, number> = { delivered: 0, retried: 0, dropped: 0 };
  readonly latencies: number[] = [];
  journalErrors = 0;
  result(_w: string, r: DeliveryResult): void {
    this.results[r] += 1;
  }
  latency(_w: string, s: number): void {
    this.latencies.push(s);
  }
  journalError(): void {
    this.journalErrors += 1;
  }
}

function event(seq: number, name: BridgeEvent["name"] = "incident.opened"): BridgeEvent {
  return { id: `run-${seq}`, name, port: "vm0", data: { id: `inc-${seq}`, state: "open" } };
}

interface Engine {
  readonly hooks: Webhooks;
  readonly emit: (event: BridgeEvent) => void;
  readonly counts: Counts;
  readonly audits: Record<string, unknown>[];
  readonly logs: string[];
}

async function engine(configs: WebhookConfig[], captureDir?: string): Promise<Engine> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const counts = new Counts();
  const audits: Record<string, unknown>[] = [];
  let listener: (event: BridgeEvent) => void = () => undefined;
  const hooks = await Webhooks.start(configs, {
    captureDir: captureDir ?? (await mkdtemp(path.join(os.tmpdir(), "webhooks-"))),
    log: pino({ level: "trace" }, sink),
    audit: { append: (input) => (audits.push(input), Promise.resolve({} as never)) },
    observer: counts,
    subscribe: (l) => ((listener = l), () => undefined),
  });
  return { hooks, emit: (e) => listener(e), counts, audits, logs };
}

const verify = (r: Received) =>
  r.signature === `sha256=${createHmac("sha256", SECRET).update(r.body).digest("hex")}`;

describe("webhooks", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it("signs each body, keeps one delivery id across retries, and delivers in order after three 500s", async () => {
    const r = await receiver((_req, res, n) => res.writeHead(n <= 3 ? 500 : 204).end());
    cleanups.push(() => stop(r.server));
    const e = await engine([hook(r.url)]);
    cleanups.push(() => e.hooks.close());
    for (let i = 1; i <= 3; i++) e.emit(event(i));
    await waitUntil(() => e.counts.results.delivered === 3, 10_000, "three deliveries");
    assert.equal(r.got.length, 6, "three failed attempts of the first, then one each");
    assert.ok(r.got.every(verify), "every signature verifies with the secret");
    assert.deepEqual(
      r.got.slice(0, 4).map((g) => g.delivery),
      Array(4).fill(r.got[0]!.delivery),
      "the first delivery kept its id on every retry",
    );
    const ids = r.got.slice(3).map((g) => (JSON.parse(g.body.toString()) as { id: string }).id);
    assert.deepEqual(ids, ["run-1", "run-2", "run-3"], "in event order");
    const first = JSON.parse(r.got[0]!.body.toString()) as Record<string, unknown>;
    assert.deepEqual(
      first,
      { id: "run-1", type: "incident.opened", port: "vm0", data: { id: "inc-1", state: "open" } },
      "the body",
    );
    assert.equal(r.got[0]!.type, "incident.opened", "X-Sysrq-Bridge-Event");
    // Gaps: ~100, ~200, then on: backoff with at most 25 % jitter.
    const gaps = [r.got[1]!.at - r.got[0]!.at, r.got[2]!.at - r.got[1]!.at, r.got[3]!.at - r.got[2]!.at];
    assert.ok(gaps[0]! >= 95 && gaps[0]! < 400, `first retry after ~100 ms (${gaps.join(", ")})`);
    assert.ok(gaps[1]! >= 190 && gaps[2]! >= 380, `then doubling (${gaps.join(", ")})`);
    assert.equal(e.counts.results.retried, 3, "three retries counted");
    assert.ok(
      e.logs.join("").length > 0 && !e.logs.join("").includes(SECRET),
      "the secret is in no log line",
    );
  });

  it("backoff doubles from initialMs to maxMs with at most 25 % jitter", () => {
    const retry = { initialMs: 1000, maxMs: 60_000, forMs: 86_400_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 40].map((n) => backoffMs(n, retry, 0)),
      [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000],
      "without jitter",
    );
    assert.equal(backoffMs(3, retry, 0.999), Math.round(4000 * 1.24975), "jitter at most +25 %");
  });

  it("a receiver that is down: past maxPending the oldest is dropped (logged, counted, audited), the rest waits on disk and follows a stop", async () => {
    const port = await freeTcpPort();
    const url = `http://127.0.0.1:${port}/hook`;
    const captureDir = await mkdtemp(path.join(os.tmpdir(), "webhooks-"));
    const e = await engine([hook(url, { maxPending: 3 })], captureDir);
    for (let i = 1; i <= 5; i++) e.emit(event(i));
    await waitUntil(() => e.counts.results.retried >= 1, 5000, "a failed attempt");
    assert.equal(e.counts.results.dropped, 2, "two dropped over the cap");
    assert.deepEqual(
      e.audits.map((a) => [a["action"], a["reason"]]),
      [
        ["webhook-drop", "over-cap"],
        ["webhook-drop", "over-cap"],
      ],
      "audited",
    );
    assert.ok(
      e.logs.some((l) => l.includes("delivery dropped")),
      "logged",
    );
    assert.equal(e.hooks.pending().get("test"), 3, "pending gauge");
    const closed = Date.now();
    await e.hooks.close();
    assert.ok(Date.now() - closed < 1000, "close does not wait for the backoff");
    const files = await readdir(journalDir(captureDir, url));
    assert.equal(files.length, 3, `three files stay (${files.join(", ")})`);
    // Started again with the receiver up: the three kept ones arrive, oldest first.
    const r = await receiver((_req, res) => res.writeHead(200).end("ok"));
    cleanups.push(() => stop(r.server));
    await new Promise<void>((resolve) => r.server.close(() => resolve()));
    await new Promise<void>((resolve) => r.server.listen(port, "127.0.0.1", resolve));
    const again = await engine([hook(url, { maxPending: 3 })], captureDir);
    cleanups.push(() => again.hooks.close());
    await waitUntil(() => again.counts.results.delivered === 3, 5000, "stored deliveries");
    assert.deepEqual(
      r.got.map((g) => (JSON.parse(g.body.toString()) as { id: string }).id),
      ["run-3", "run-4", "run-5"],
      "the kept ones, in order",
    );
    assert.ok(r.got.every(verify), "signatures verify");
    await waitUntil(
      async () => (await readdir(journalDir(captureDir, url))).length === 0,
      2000,
      "files removed",
    );
  });

  it("a flooding, a trickling and a silent receiver cost a bounded read and a deadline; close does not wait for them", async () => {
    const flood = await receiver((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once("drain", pump);
      };
      pump();
    });
    const silent = await receiver(() => undefined);
    const trickle = await receiver((_req, res) => {
      res.writeHead(200);
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(".")), 50);
    });
    cleanups.push(
      () => stop(flood.server),
      () => stop(silent.server),
      () => stop(trickle.server),
    );
    const e = await engine([
      hook(flood.url, { name: "flood" }),
      hook(silent.url, {
        name: "silent",
        timeoutMs: 300,
        retry: { initialMs: 100, maxMs: 100, forMs: 60_000 },
      }),
      hook(trickle.url, { name: "trickle", timeoutMs: 400 }),
    ]);
    const rss = process.memoryUsage().rss;
    e.emit(event(1));
    e.emit(event(2));
    // The flood's two and the trickle's two: a 2xx status delivers; the endless answer is cut at the deadline.
    await waitUntil(() => e.counts.results.delivered === 4, 5000, "the flood's and the trickle's deliveries");
    assert.ok(
      trickle.got[1]!.at - trickle.got[0]!.at >= 350,
      "the trickle's socket was held until its deadline, then dropped",
    );
    await waitUntil(() => silent.got.length >= 3, 5000, "the silent one retried after its deadline");
    assert.ok(process.memoryUsage().rss - rss < 64 * 1024 * 1024, "the flood was not read into memory");
    assert.equal(new Set(silent.got.map((g) => g.delivery)).size, 1, "retries of one delivery");
    const started = Date.now();
    await e.hooks.close();
    assert.ok(
      Date.now() - started < 1000,
      `close returned in ${Date.now() - started} ms with a request in flight`,
    );
  });

  it("gives up after retry.forMs with a logged, audited drop", async () => {
    const r = await receiver((_req, res) => res.writeHead(503).end());
    cleanups.push(() => stop(r.server));
    const e = await engine([hook(r.url, { retry: { initialMs: 100, maxMs: 200, forMs: 1000 } })]);
    cleanups.push(() => e.hooks.close());
    e.emit(event(1));
    await waitUntil(() => e.counts.results.dropped === 1, 5000, "the drop");
    assert.equal(e.audits[0]?.["reason"], "expired", "audited as expired");
    assert.equal(e.audits[0]?.["lastError"], "HTTP 503", "with the last answer");
    assert.ok(!JSON.stringify(e.audits).includes(SECRET), "no secret in the audit");
  });

  it("a journal folder that cannot be made: logged and counted, deliveries still go out (from memory)", async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end());
    cleanups.push(() => stop(r.server));
    const captureDir = await mkdtemp(path.join(os.tmpdir(), "webhooks-"));
    await mkdir(path.join(captureDir, "webhooks"), { recursive: true });
    await writeFile(journalDir(captureDir, r.url), "a file where the folder should be");
    const e = await engine([hook(r.url)], captureDir);
    cleanups.push(() => e.hooks.close());
    assert.equal(e.counts.journalErrors, 1, "counted");
    assert.ok(
      e.logs.some((l) => l.includes("cannot open its journal folder")),
      "logged",
    );
    e.emit(event(1));
    await waitUntil(() => e.counts.results.delivered === 1, 5000, "delivered from memory");
  });

  it("a reload keeps a URL's queue (its next attempt signed with the new secret), starts a new one and stops a removed one", async () => {
    let fail = true;
    const r = await receiver((_req, res) => res.writeHead(fail ? 500 : 200).end());
    const other = await receiver((_req, res) => res.writeHead(200).end());
    cleanups.push(
      () => stop(r.server),
      () => stop(other.server),
    );
    const e = await engine([hook(r.url)]);
    cleanups.push(() => e.hooks.close());
    e.emit(event(1));
    await waitUntil(() => r.got.length === 1, 5000, "a first failed attempt");
    const NEW_SECRET = "a-new-secret-after-reload-0123";
    await e.hooks.configure([
      hook(r.url, { secret: new SecretValue(NEW_SECRET) }),
      hook(other.url, { name: "other" }),
    ]);
    fail = false;
    e.emit(event(2));
    await waitUntil(() => e.counts.results.delivered === 3, 5000, "both webhooks delivered");
    const last = r.got.at(-2)!;
    assert.equal(last.delivery, r.got[0]!.delivery, "the waiting delivery was kept");
    assert.equal(
      last.signature,
      `sha256=${createHmac("sha256", NEW_SECRET).update(last.body).digest("hex")}`,
      "signed with the new secret",
    );
    assert.deepEqual([...e.hooks.pending().keys()].sort(), ["other", "test"], "two queues");
    await e.hooks.configure([hook(other.url, { name: "other" })]);
    assert.deepEqual([...e.hooks.pending().keys()], ["other"], "the removed one stopped");
  });

  it("events filters by type", async () => {
    const r = await receiver((_req, res) => res.writeHead(200).end());
    cleanups.push(() => stop(r.server));
    const e = await engine([hook(r.url, { events: ["incident.closed"] })]);
    cleanups.push(() => e.hooks.close());
    e.emit(event(1, "incident.opened"));
    e.emit(event(2, "port.state"));
    e.emit(event(3, "incident.closed"));
    await waitUntil(() => e.counts.results.delivered === 1, 5000, "one delivery");
    assert.deepEqual(
      r.got.map((g) => g.type),
      ["incident.closed"],
      "only the filtered type",
    );
  });
});

describe("webhooks config", () => {
  const base = { ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }] };
  const load = (webhooks: unknown[]) => resolveConfig({ ...base, webhooks }, "/");
  process.env["WEBHOOK_UNIT_SECRET"] = SECRET;
  const problem = (webhooks: unknown[]): string => {
    try {
      load(webhooks);
    } catch (err) {
      assert.equal((err as { code?: string }).code, "CONFIG_INVALID", "CONFIG_INVALID");
      return (err as Error).message;
    }
    return "accepted";
  };

  it("resolves defaults and never serialises the secret", () => {
    const [one] = load([{ url: "https://hooks.example/x", secretEnv: "WEBHOOK_UNIT_SECRET" }]).webhooks;
    assert.equal(one?.name, "hooks.example", "name defaults to the host");
    assert.equal(one?.timeoutMs, 5000, "timeout default");
    assert.deepEqual(one?.retry, { initialMs: 1000, maxMs: 60_000, forMs: 86_400_000 }, "retry defaults");
    assert.equal(one?.secret.reveal(), SECRET, "the secret is read");
    assert.ok(!JSON.stringify(one).includes(SECRET), "JSON has no secret");
    assert.ok(!String(one?.secret).includes(SECRET), "nor its string");
  });

  it("refuses with the key's path", () => {
    const env = { secretEnv: "WEBHOOK_UNIT_SECRET" };
    assert.match(
      problem([{ url: "https://a/x" }]),
      /^webhooks\.0: give exactly one of secretEnv or secretFile/,
    );
    assert.match(
      problem([{ url: "https://a/x", ...env, secretFile: "/x" }]),
      /^webhooks\.0: give exactly one/,
    );
    assert.match(problem([{ url: "ftp://a/x", ...env }]), /^webhooks\.0\.url/);
    assert.match(
      problem([{ url: "https://a/x", secretEnv: "NOPE_NOT_SET_X" }]),
      /^webhooks\.0\.secretEnv: environment variable NOPE_NOT_SET_X is not set/,
    );
    assert.match(
      problem([{ url: "https://a/x", secretFile: "/nonexistent/s" }]),
      /^webhooks\.0\.secretFile: cannot read/,
    );
    assert.match(
      problem([
        { url: "https://a/x", ...env },
        { url: "https://a/y", ...env },
      ]),
      /^webhooks\.1\.name: .*give each a name/,
    );
    assert.match(problem([{ url: "https://a/x", ...env, events: ["missed"] }]), /^webhooks\.0\.events\.0/);
    assert.match(
      problem([{ url: "https://a/x", ...env, retry: { initialMs: 5000, maxMs: 1000 } }]),
      /^webhooks\.0\.retry\.maxMs/,
    );
    process.env["WEBHOOK_UNIT_SHORT"] = "short";
    const short = problem([{ url: "https://a/x", secretEnv: "WEBHOOK_UNIT_SHORT" }]);
    assert.match(short, /at least 16 characters/);
    assert.ok(!short.includes('short"'), "the value is not in the message");
  });
});
