import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon.js";
import { FakeKernel } from "../helpers/fake-kernel.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";

const READ = "metrics-read-token-0123456789";
const OPERATE = "metrics-operate-token-012345";

describe("OpenAPI document and Prometheus metrics", () => {
  let daemon: Daemon;

  before(async () => {
    daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
      createTransport: new FakeKernel().factory,
      config: {
        auth: {
          tokens: [
            { name: "grafana", role: "read", sha256: sha256(READ).toString("hex") },
            { name: "rig", role: "operate", sha256: sha256(OPERATE).toString("hex") },
          ],
        },
      },
    });
    await waitUntil(() => daemon.ports.get("vm0").info().state === "open", 2000, "port open");
  });
  after(() => daemon.close());

  it("serves a valid OpenAPI 3.1 document, open to all, generated from the route schemas", async () => {
    const res = await daemon.app.inject({ method: "GET", url: "/docs/json" });
    assert.equal(res.statusCode, 200);
    const doc = res.json<{ openapi: string; paths: Record<string, unknown> }>();
    assert.equal(doc.openapi, "3.1.0");
    for (const path of ["/ports/{id}/sysrq", "/ports/{id}/nmi", "/ports/{id}/log", "/audit"]) {
      assert.ok(path in doc.paths, path);
    }
    await SwaggerParser.validate(structuredClone(doc) as never);
    const ui = await daemon.app.inject({ method: "GET", url: "/docs" });
    assert.equal(ui.statusCode, 200);
    assert.match(ui.body, /swagger-ui/);
    assert.match(String(ui.headers["content-security-policy"]), /default-src/);
  });

  it("exposes metrics to read tokens, and the counters move with a SysRq", async () => {
    assert.equal((await daemon.app.inject({ method: "GET", url: "/metrics" })).statusCode, 401);
    const scrape = async () => {
      const res = await daemon.app.inject({
        method: "GET",
        url: "/metrics",
        headers: { authorization: `Bearer ${READ}` },
      });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers["content-type"]), /^text\/plain/);
      return res.body;
    };
    const value = (text: string, series: string): number => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? 0 : Number(line.slice(series.length + 1));
    };
    const before = await scrape();
    assert.equal(value(before, 'sysrq_bridge_port_state{port="vm0",state="open"}'), 1);
    const sysrq = await daemon.app.inject({
      method: "POST",
      url: "/ports/vm0/sysrq",
      headers: { authorization: `Bearer ${OPERATE}` },
      payload: { keys: "hm", settleMs: 0 },
    });
    assert.equal(sysrq.statusCode, 200);
    const after = await scrape();
    const acked = 'sysrq_bridge_sysrq_verdicts_total{port="vm0",verdict="acknowledged"}';
    assert.equal(value(after, acked) - value(before, acked), 2);
    const latency = 'sysrq_bridge_sysrq_latency_seconds_count{port="vm0"}';
    assert.equal(value(after, latency) - value(before, latency), 2);
    assert.ok(value(after, 'sysrq_bridge_captured_bytes_total{port="vm0"}') > 0);
    const requests = 'sysrq_bridge_http_requests_total{method="POST",route="/ports/:id/sysrq",status="200"}';
    assert.equal(value(after, requests), 1);
  });
});
