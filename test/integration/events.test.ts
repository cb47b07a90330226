/**
 * GET /events over a listening daemon and a fake kernel, read by a real HTTP client: a recovery's
 * incident opened → updated → closed in order with the port's health, Last-Event-ID resumes without
 * loss, a port-scoped token sees only its ports, the stream caps, a slow reader cut with a bounded
 * queue, heartbeats, and shutdown ending every stream.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const PANIC = "[   12.000000] Kernel panic - not syncing: test panic\r\n";
const SECRETS = { ops: "ops-secret-0123456789", rig: "rig-secret-0123456789" };
const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");
const auth = (secret: string) => ({ authorization: `Bearer ${secret}` });
const tokens = [
  { name: "ops", role: "read", sha256: sha256(SECRETS.ops) },
  { name: "rig", role: "read", sha256: sha256(SECRETS.rig), ports: ["vm1"] },
];

interface SseEvent {
  readonly id: string;
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** A real HTTP client reading text/event-stream frames as they arrive. */
class SseClient {
  readonly events: SseEvent[] = [];
  comments = 0;
  ended = false;
  body = "";
  private buffer = "";

  private constructor(
    readonly status: number,
    private readonly request: http.ClientRequest,
  ) {}

  static open(url: string, headers: Record<string, string>): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { headers }, (response) => {
        request.setTimeout(0); // a stream may be quiet for long; the headers came
        const client = new SseClient(response.statusCode ?? 0, request);
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => client.feed(chunk));
        response.on("end", () => (client.ended = true));
        response.on("error", () => (client.ended = true));
        resolve(client);
      });
      request.on("error", reject);
      // Every wait has a deadline: a server that never answers fails the test instead of holding it.
      request.setTimeout(5000, () => request.destroy(new Error("no response headers within 5 s")));
    });
  }

  private feed(chunk: string): void {
    this.body += chunk.length < 4096 ? chunk : "";
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf("\n\n")) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) this.comments += 1;
        else {
          const colon = line.indexOf(": ");
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 2));
        }
      }
      if (fields.has("event")) {
        this.events.push({
          id: fields.get("id") ?? "",
          event: fields.get("event")!,
          data: JSON.parse(fields.get("data") ?? "{}") as Record<string, unknown>,
        });
      }
    }
  }

  close(): void {
    this.request.destroy();
  }

  of(incident: string): SseEvent[] {
    return this.events.filter((e) => e.event.startsWith("incident.") && e.data["id"] === incident);
  }
}

describe("GET /events", { timeout: 30_000 }, () => {
  const vm0Kernel = new FakeKernel(1);
  const vm1Kernel = new FakeKernel(1);
  let daemon: (Daemon & { captureDir: string }) | undefined;
  const clients: SseClient[] = [];
  const open = async (headers: Record<string, string>, path = "/events"): Promise<SseClient> => {
    const client = await SseClient.open(`${daemon!.url}${path}`, headers);
    clients.push(client);
    return client;
  };

  before(async () => {
    daemon = await startTestDaemon({
      listen: true,
      createTransport: (config) =>
        "endpoint" in config && "port" in config.endpoint && config.endpoint.port === 4556
          ? vm1Kernel.factory(config)
          : vm0Kernel.factory(config),
      config: { auth: { tokens } },
      ports: [
        {
          id: "vm0",
          transport: { kind: "telnet", host: "127.0.0.1", port: 4555 },
          watch: { quietMs: 1000 },
          recover: {
            on: ["panic"],
            until: "login: ?$",
            untilTimeoutMs: 5000,
            cooldownMs: 0,
            steps: [{ sysrq: "s" }, { sysrq: "b" }],
          },
        },
        { id: "vm1", transport: { kind: "telnet", host: "127.0.0.1", port: 4556 }, watch: { quietMs: 1000 } },
      ],
    });
    await waitUntil(
      () => daemon!.ports.list().every((port) => port.info().state === "open"),
      3000,
      "ports open",
    );
  });
  after(async () => {
    for (const client of clients) client.close();
    await daemon?.close();
  });

  it("a recovery's incident: opened → updated → closed in order, with health; resumes by Last-Event-ID; the port-scoped token sees only its port", async () => {
    const ops = await open(auth(SECRETS.ops));
    const rig = await open(auth(SECRETS.rig));
    const early = await open(auth(SECRETS.ops));
    assert.deepEqual([ops.status, rig.status, early.status], [200, 200, 200]);
    vm0Kernel.transports.at(-1)!.print(PANIC);
    // The ladder's s step is recorded on the incident (updated); then the target prints its prompt.
    await waitUntil(
      () => ops.events.some((e) => e.event === "incident.updated" && e.data["lastStep"] !== undefined),
      5000,
      "the ladder's step as an event",
    );
    const id = String(ops.events.find((e) => e.event === "incident.opened")!.data["id"]);
    // A reader that goes away after the incident opened, before it closes.
    early.close();
    const seenEarly = early.events.filter((e) => e.event !== "cut");
    // b disconnects the fake kernel; once the port is back the target prints its prompt.
    await waitUntil(() => vm0Kernel.transports.length === 2, 5000, "reconnect after b");
    await waitUntil(() => daemon!.ports.get("vm0").info().state === "open", 5000, "port open again");
    vm0Kernel.transports.at(-1)!.print("\r\nvm0 login: ");
    await waitUntil(() => ops.of(id).some((e) => e.event === "incident.closed"), 5000, "closed event");
    await waitUntil(
      () => ops.events.some((e) => e.event === "port.health" && e.data["health"] === "good"),
      2000,
      "health good again",
    );

    const kinds = ops.of(id).map((e) => e.event);
    assert.equal(kinds[0], "incident.opened", kinds.join(" "));
    const closedAt = kinds.indexOf("incident.closed");
    assert.ok(closedAt >= 2, kinds.join(" "));
    assert.ok(
      kinds.slice(1, closedAt).every((k) => k === "incident.updated"),
      kinds.join(" "),
    );
    const closed = ops.of(id)[closedAt]!.data;
    assert.deepEqual([closed["port"], closed["state"], closed["outcome"]], ["vm0", "closed", "recovered"]);
    const health = ops.events
      .filter((e) => e.event === "port.health")
      .map((e) => `${String(e.data["port"])}:${String(e.data["health"])}`);
    assert.deepEqual(health, ["vm0:recovering", "vm0:good"]);
    // Ids increase in the order sent.
    const seqs = ops.events.map((e) => Number(e.id.split("-")[1]));
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
    );

    // Resume from the last id the early reader saw: exactly the events the continuous reader got after it.
    const last = seenEarly.at(-1)!.id;
    const resumed = await open({ ...auth(SECRETS.ops), "last-event-id": last });
    const expected = ops.events.slice(ops.events.findIndex((e) => e.id === last) + 1);
    await waitUntil(() => resumed.events.length >= expected.length, 3000, "the replay");
    assert.deepEqual(
      resumed.events.slice(0, expected.length).map((e) => [e.id, e.event]),
      expected.map((e) => [e.id, e.event]),
    );
    assert.ok(
      expected.some((e) => e.event === "incident.closed"),
      JSON.stringify({ last, expected, closed: ops.of(id).at(-1) }),
    );

    // The vm1-only token saw nothing of vm0; a panic on vm1 reaches it.
    assert.deepEqual(
      rig.events.filter((e) => JSON.stringify(e.data).includes("vm0")),
      [],
    );
    vm1Kernel.transports.at(-1)!.print(PANIC);
    await waitUntil(() => rig.events.some((e) => e.event === "incident.opened"), 3000, "vm1's incident");
    assert.ok(
      rig.events.every((e) => e.data["port"] === "vm1"),
      JSON.stringify(rig.events),
    );
  });

  it("pushes a port's state change at once (no sampling): a reconnect shorter than any poll shows as connecting → open", async () => {
    const stream = daemon!.app.events.subscribe({ key: "push-test", ports: new Set(["vm1"]) });
    try {
      vm1Kernel.transports.at(-1)!.disconnect();
      // Queued by the time disconnect() returns: the port layer pushed it, no timer was involved.
      assert.equal(stream.waiting, 1, "the connecting event, queued at once");
      const lost = await stream.next();
      assert.deepEqual([lost?.name, lost?.data], ["port.state", { port: "vm1", state: "connecting" }]);
      await waitUntil(() => daemon!.ports.get("vm1").info().state === "open", 3000, "vm1 reconnected");
      assert.equal(stream.waiting, 1, "the open event, queued as the link opened");
      const back = await stream.next();
      assert.deepEqual([back?.name, back?.data], ["port.state", { port: "vm1", state: "open" }]);
    } finally {
      stream.close();
    }
  });

  it("an id from before the ring (or another run) gets `missed` first; a malformed one 400; no token, or one in the URL, 401", async () => {
    const other = await open({ ...auth(SECRETS.ops), "last-event-id": "zz-1" });
    await waitUntil(() => other.events.length > 0, 2000, "the missed event");
    assert.equal(other.events[0]!.event, "missed");
    assert.equal(other.events[0]!.data["lastEventId"], "zz-1");
    const bad = await open({ ...auth(SECRETS.ops), "last-event-id": "not an id" });
    await waitUntil(() => bad.ended, 2000, "the 400's end");
    assert.equal(bad.status, 400);
    assert.equal((JSON.parse(bad.body) as { code: string }).code, "VALIDATION");
    const inUrl = await open({}, `/events?token=${SECRETS.ops}&access_token=${SECRETS.ops}`);
    assert.equal(inUrl.status, 401);
  });
});

describe("GET /events: limits, a slow reader, heartbeats and shutdown", { timeout: 60_000 }, () => {
  const kernel = new FakeKernel(1);
  let daemon: (Daemon & { captureDir: string }) | undefined;
  const clients: SseClient[] = [];
  const open = async (secret: string): Promise<SseClient> => {
    const client = await SseClient.open(`${daemon!.url}/events`, auth(secret));
    clients.push(client);
    return client;
  };

  before(async () => {
    daemon = await startTestDaemon({
      listen: true,
      createTransport: kernel.factory,
      config: { auth: { tokens } },
      events: { queueMax: 8, maxStreams: 3, maxStreamsPerToken: 2, heartbeatMs: 100 },
      ports: [
        { id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } },
        { id: "vm1", transport: { kind: "telnet", host: "127.0.0.1", port: 4556 }, watch: false },
      ],
    });
  });
  after(async () => {
    for (const client of clients) client.close();
    await daemon?.close();
  });

  it("per token, then per daemon: 429 TOO_MANY_STREAMS; a closed stream frees its place", async () => {
    const [a, b] = [await open(SECRETS.ops), await open(SECRETS.ops)];
    const third = await open(SECRETS.ops);
    await waitUntil(() => third.ended, 2000, "the refusal");
    assert.equal(third.status, 429);
    assert.deepEqual(
      [
        (JSON.parse(third.body) as { code: string }).code,
        (JSON.parse(third.body) as { limit: string }).limit,
      ],
      ["TOO_MANY_STREAMS", "token"],
    );
    const c = await open(SECRETS.rig);
    const fourth = await open(SECRETS.rig);
    await waitUntil(() => fourth.ended, 2000, "the refusal");
    assert.equal(fourth.status, 429);
    assert.equal((JSON.parse(fourth.body) as { limit: string }).limit, "daemon");
    // /metrics counts them: 3 open, one refused at each cap.
    const metrics = await (await fetch(`${daemon!.url}/metrics`, { headers: auth(SECRETS.ops) })).text();
    assert.match(metrics, /^sysrq_bridge_event_streams 3$/m, "the open streams gauge");
    assert.match(metrics, /^sysrq_bridge_event_streams_refused_total\{limit="token"\} 1$/m, "refused: token");
    assert.match(
      metrics,
      /^sysrq_bridge_event_streams_refused_total\{limit="daemon"\} 1$/m,
      "refused: daemon",
    );
    // Heartbeats on idle streams.
    await waitUntil(() => a.comments >= 3, 2000, "heartbeats");
    for (const client of [a, b, c]) client.close();
    await waitUntil(() => daemon!.app.events.open === 0, 2000, "streams released");
    const again = await open(SECRETS.ops);
    assert.equal(again.status, 200);
    again.close();
    await waitUntil(() => daemon!.app.events.open === 0, 2000, "streams released");
  });

  it("a reader that does not read is cut once queueMax events wait: its last event is `cut`, and it can resume from its id", async () => {
    // A raw socket that sends the request and then reads nothing.
    const socket = net.connect(Number(new URL(daemon!.url).port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${SECRETS.ops}\r\n\r\n`);
    await waitUntil(() => daemon!.app.events.open === 1, 2000, "the stream");
    socket.pause();
    const store = daemon!.app.incidents;
    const trigger = { line: "x".repeat(512), seq: 0, offset: 0 };
    let made = 0;
    // The kernel's socket buffers take some MB first; then the queue fills and the reader is cut.
    const deadline = Date.now() + 30_000;
    while (daemon!.app.events.open > 0 && Date.now() < deadline) {
      // Fewer than queueMax at a time: a reader whose socket takes them keeps up.
      for (let i = 0; i < 7; i++) store.create("vm0", trigger);
      made += 7;
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.equal(daemon!.app.events.open, 0, `cut after ${made} events`);
    assert.ok(made > 100, `cut after ${made} events: the socket took none`);
    let text = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (text = (text + chunk).slice(-4096)));
    socket.resume();
    await new Promise((resolve) => socket.once("close", resolve));
    const final = /id: (\S+)\nevent: cut\ndata: (.*)\n\n/.exec(text);
    assert.ok(final, text.slice(-300));
    assert.equal((JSON.parse(final[2]!) as { reason: string }).reason, "slow");
    await store.flush();
  });

  it("shutdown ends every stream with `cut` at once, a reader that does not read included", async () => {
    const reading = await open(SECRETS.ops);
    const socket = net.connect(Number(new URL(daemon!.url).port), "127.0.0.1");
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${SECRETS.rig}\r\n\r\n`);
    socket.pause();
    socket.on("error", () => undefined);
    await waitUntil(() => daemon!.app.events.open === 2, 2000, "two streams");
    const started = Date.now();
    await daemon!.close();
    const ms = Date.now() - started;
    assert.ok(ms < 5000, `close took ${ms} ms`);
    await waitUntil(() => reading.ended, 2000, "the stream's end");
    assert.equal(reading.events.at(-1)?.event, "cut");
    assert.equal(reading.events.at(-1)?.data["reason"], "shutdown");
    socket.destroy();
  });
});
