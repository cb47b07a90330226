/**
 * Issue 17, proof case 3, against the built daemon: incidents from kernel panic lines on a real pty
 * (socat), delivered by webhook to a receiver in this process that answers 500 three times, then is
 * not listening for OUTAGE_MS, while the daemon is SIGKILLed with deliveries pending and started
 * again on the same captureDir. Every incident's opened and closed event arrives at least once,
 * the first delivery keeps its id across the kill (the journal), a repeat is known by its delivery
 * id (same id, same bytes), and every signature verifies with the secret, which no log line holds.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { bin, listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import { startPtyPair, TargetSide, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";
import { freeTcpPort } from "../kit/index.js";

/** The issue's 30 s: the backoff (1 s doubling to 4 s here) has to span it. */
const OUTAGE_MS = 30_000;
const SECRET = "e2e-webhook-secret-7c1d9e40b2a6";

interface Received {
  readonly delivery: string;
  readonly type: string;
  readonly signature: string;
  readonly body: Buffer;
  readonly status: number;
}

interface EventBody {
  readonly id: string;
  readonly type: string;
  readonly port: string;
  readonly data: { readonly id: string };
}

interface Incident {
  readonly id: string;
  readonly state: string;
}

class Receiver {
  readonly got: Received[] = [];
  private server: http.Server | null = null;
  failuresLeft = 3;
  /** Called after the third 500: the receiver goes away. */
  onThirdFailure: () => void = () => undefined;

  constructor(readonly port: number) {}

  async up(): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const status = this.failuresLeft > 0 ? 500 : 200;
        this.got.push({
          delivery: String(req.headers["x-sysrq-bridge-delivery"]),
          type: String(req.headers["x-sysrq-bridge-event"]),
          signature: String(req.headers["x-sysrq-bridge-signature"]),
          body: Buffer.concat(chunks),
          status,
        });
        res.writeHead(status).end();
        if (status === 500 && --this.failuresLeft === 0) this.onThirdFailure();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, "127.0.0.1", resolve));
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  delivered(): Received[] {
    return this.got.filter((g) => g.status === 200);
  }
}

describe(
  "webhooks through a receiver outage and a daemon SIGKILL",
  { skip: requireTools("socat") || (!existsSync(bin) && "npm run build first"), timeout: 150_000 },
  () => {
    let dir = "";
    let pty: PtyPair | null = null;
    let target: TargetSide | null = null;
    let daemon: BinProcess | null = null;
    let receiver: Receiver | null = null;
    after(async () => {
      daemon?.child.kill("SIGKILL");
      target?.close();
      await pty?.stop();
      await receiver?.down();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("delivers every incident event at least once, duplicates known by delivery id, signatures verify", async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-webhooks-e2e-"));
      pty = await startPtyPair(path.join(dir, "dev-pty"), path.join(dir, "target-pty"));
      target = new TargetSide(pty.targetSide);
      const httpPort = await freeTcpPort();
      receiver = new Receiver(await freeTcpPort());
      process.env["SYSRQ_E2E_WEBHOOK_SECRET"] = SECRET;
      const config = path.join(dir, "config.yaml");
      await writeFile(
        config,
        [
          `listen: { host: 127.0.0.1, port: ${httpPort} }`,
          "captureDir: ./cap",
          "lockDir: false",
          "log: { level: debug }",
          "ports:",
          `  - id: pty0`,
          `    transport: { kind: tty, path: ${pty.daemonSide} }`,
          "    watch: { quietMs: 1000 }",
          "webhooks:",
          `  - url: http://127.0.0.1:${receiver.port}/sysrq?team=kernel`,
          "    secretEnv: SYSRQ_E2E_WEBHOOK_SECRET",
          "    events: [incident.opened, incident.closed]",
          "    timeoutMs: 2000",
          "    retry: { initialMs: 1000, maxMs: 4000, forMs: 600000 }",
          "",
        ].join("\n"),
      );
      const logs: string[] = [];
      const start = async (): Promise<BinProcess> => {
        const proc = run(["--config", config]);
        await listening(proc, httpPort, 20_000);
        await waitUntil(() => portOpen(httpPort), 10_000, "pty0 open");
        return proc;
      };
      let uptime = 0.1;
      const panic = (n: number): void => {
        uptime += 1.5;
        target!.write(
          Buffer.from(`[${uptime.toFixed(6).padStart(12)}] Kernel panic - not syncing: webhook e2e ${n}\r\n`),
        );
      };
      /** Writes a panic line and waits for its incident to close (quietMs). */
      const incident = async (n: number): Promise<void> => {
        const before = (await incidents(httpPort)).length;
        panic(n);
        await waitUntil(
          async () => {
            const all = await incidents(httpPort);
            return all.length === before + 1 && all.every((i) => i.state === "closed");
          },
          10_000,
          `incident ${n} opened and closed`,
        );
      };

      let wentDown: Promise<void> | null = null;
      receiver.onThirdFailure = () => {
        wentDown = receiver!.down();
      };
      await receiver.up();
      daemon = await start();
      await incident(1);
      await waitUntil(() => wentDown !== null, 15_000, "three 500s");
      await (wentDown as Promise<void> | null);
      const downAt = Date.now();
      await incident(2);
      await incident(3);
      assert.equal(receiver.delivered().length, 0, "nothing delivered yet");
      // SIGKILL with six events pending (the first of them tried three times already).
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      logs.push(daemon.output().stdout, daemon.output().stderr);
      daemon = await start();
      await incident(4);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, downAt + OUTAGE_MS - Date.now())));
      await receiver.up();
      const all = await incidents(httpPort);
      assert.equal(all.length, 4, "four incidents");
      const wanted = all.flatMap((i) => [`incident.opened ${i.id}`, `incident.closed ${i.id}`]);
      const has = () => {
        const seen = new Set(receiver!.delivered().map((g) => key(parse(g.body))));
        return wanted.every((w) => seen.has(w));
      };
      await waitUntil(has, 20_000, "every incident's opened and closed event delivered").catch(
        (err: unknown) => {
          const got = receiver!.got.map((g) => `${g.status} ${g.delivery.slice(0, 8)} ${key(parse(g.body))}`);
          const hooks = daemon!
            .output()
            .stdout.split("\n")
            .filter((l) => l.includes("webhook"));
          throw new Error(
            `${(err as Error).message}\nwanted ${wanted.join(", ")}\ngot ${got.join("\n")}\n${hooks.slice(-20).join("\n")}`,
          );
        },
      );

      // Every signature verifies; a delivery id always carries the same bytes, and one event one id.
      for (const g of receiver.got) {
        const expected = `sha256=${createHmac("sha256", SECRET).update(g.body).digest("hex")}`;
        assert.equal(g.signature, expected, `signature of delivery ${g.delivery}`);
        assert.equal(g.type, parse(g.body).type, "X-Sysrq-Bridge-Event names the body's type");
      }
      const bytesById = new Map<string, string>();
      const idByEvent = new Map<string, string>();
      for (const g of receiver.got) {
        const body = g.body.toString("utf8");
        assert.equal(
          bytesById.get(g.delivery) ?? body,
          body,
          `delivery ${g.delivery}: repeats are the same bytes`,
        );
        bytesById.set(g.delivery, body);
        const event = parse(g.body).id;
        assert.equal(idByEvent.get(event) ?? g.delivery, g.delivery, `event ${event}: one delivery id`);
        idByEvent.set(event, g.delivery);
      }
      // The first delivery was failed three times before the kill and delivered after it, same id.
      const first = receiver.got[0]!;
      assert.ok(
        receiver.got.slice(0, 3).every((g) => g.status === 500 && g.delivery === first.delivery),
        "three 500s for the first delivery",
      );
      assert.ok(
        receiver.delivered().some((g) => g.delivery === first.delivery),
        "the first delivery arrived after the outage and the SIGKILL, under its id",
      );
      // Per webhook, in order: what arrived after the outage follows the events' order within each run.
      const order = receiver.delivered().map((g) => key(parse(g.body)));
      assert.deepEqual(order, [...new Set(order)], `no event delivered twice here (${order.join(", ")})`);
      assert.deepEqual(order.slice(0, wanted.length), wanted, "in event order across the restart");

      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      assert.match(
        metrics,
        /sysrq_bridge_webhook_deliveries_total\{webhook="[^"]+",result="delivered"\} [1-9]/,
        "delivered counted",
      );
      assert.match(
        metrics,
        /sysrq_bridge_webhook_pending\{webhook="[^"]+"\} 0/,
        "nothing pending at the end",
      );
      assert.match(
        metrics,
        /sysrq_bridge_webhook_delivery_seconds_count\{webhook="[^"]+"\} [1-9]/,
        "latency observed",
      );
      daemon.child.kill("SIGTERM");
      await daemon.exited;
      logs.push(daemon.output().stdout, daemon.output().stderr);
      const text = logs.join("");
      assert.match(text, /webhook: delivery failed; retrying/, "the failures were logged");
      assert.ok(!text.includes(SECRET), "the secret is in no log line");
      assert.ok(!text.includes("team=kernel"), "nor the URL's query");
    });
  },
);

function parse(body: Buffer): EventBody {
  return JSON.parse(body.toString("utf8")) as EventBody;
}

function key(event: EventBody): string {
  return `${event.type} ${event.data.id}`;
}

async function incidents(port: number): Promise<Incident[]> {
  const res = await fetch(`http://127.0.0.1:${port}/incidents`);
  assert.equal(res.status, 200, "GET /incidents");
  return ((await res.json()) as { incidents: Incident[] }).incidents;
}

async function portOpen(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/ports/pty0`);
    return res.ok && ((await res.json()) as { state: string }).state === "open";
  } catch {
    return false;
  }
}
