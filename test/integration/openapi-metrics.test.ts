import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { FakeKernel } from "../kit/index.js";
import { startFakeKernelDaemon } from "../helpers/daemon.js";

/**
 * Each route's error statuses: what it can answer, nothing more. 400 params/query/body, 401/403/429
 * the auth and rate-limit hooks (403 alone on public /healthz: the Host check), 404 an unknown port,
 * 413/415 a body, 409/502/503/504 only where the port's state, the NMI method, the link or the audit
 * can refuse: never a wire error on a route that does not touch the wire.
 */
const EXPECTED_ERRORS: Record<string, number[]> = {
  "GET /healthz": [403],
  "GET /ports": [401, 403, 429],
  "GET /ports/{id}": [400, 401, 403, 404, 429],
  "GET /sysrq/keys": [401, 403, 429],
  "GET /audit": [400, 401, 403, 429],
  "GET /incidents": [400, 401, 403, 429],
  "GET /events": [400, 401, 403, 429],
  "GET /incidents/{id}": [400, 401, 403, 404, 429],
  "GET /incidents/{id}/dump": [400, 401, 403, 404, 429],
  "POST /reload": [400, 401, 403, 429, 503],
  "GET /ports/{id}/log": [400, 401, 403, 404, 429],
  "GET /ports/{id}/capture": [400, 401, 403, 404, 410, 416, 429],
  "POST /ports/{id}/sysrq": [400, 401, 403, 404, 409, 413, 415, 429, 503, 504],
  "POST /ports/{id}/break": [400, 401, 403, 404, 409, 413, 415, 429, 503, 504],
  "POST /ports/{id}/write": [400, 401, 403, 404, 409, 413, 415, 429, 503, 504],
  "POST /ports/{id}/nmi": [400, 401, 403, 404, 409, 413, 415, 429, 502, 503],
  "POST /ports/{id}/power": [400, 401, 403, 404, 409, 413, 415, 429, 502, 503],
  "POST /ports/{id}/probe": [400, 401, 403, 404, 413, 415, 429, 503],
  "POST /ports/{id}/recover": [400, 401, 403, 404, 409, 413, 415, 429, 503],
  "DELETE /ports/{id}/quarantine": [400, 401, 403, 404, 429, 503],
  "POST /ports/{id}/lease": [400, 401, 403, 404, 409, 413, 415, 429, 503],
  "DELETE /ports/{id}/lease": [400, 401, 403, 404, 413, 415, 429],
};

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  responses: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}

const READ = "metrics-read-token-0123456789";
const OPERATE = "metrics-operate-token-012345";

describe("OpenAPI document and Prometheus metrics", () => {
  let daemon: Daemon;

  before(async () => {
    daemon = await startFakeKernelDaemon(new FakeKernel(), {
      config: {
        auth: {
          tokens: [
            { name: "grafana", role: "read", sha256: sha256(READ).toString("hex") },
            { name: "rig", role: "operate", sha256: sha256(OPERATE).toString("hex") },
          ],
        },
      },
    });
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

  it("describes every route: summary, description, tags, and exactly the errors it can answer", async () => {
    const doc = (await daemon.app.inject({ method: "GET", url: "/docs/json" })).json<{
      paths: Record<string, Record<string, Operation>>;
    }>();
    const seen: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const route = `${method.toUpperCase()} ${path}`;
        seen.push(route);
        assert.ok((op.summary ?? "").length > 0, `${route}: summary`);
        assert.ok((op.description ?? "").length > 0, `${route}: description`);
        assert.ok((op.tags ?? []).length > 0, `${route}: tags`);
        const errors = Object.keys(op.responses)
          .map(Number)
          .filter((status) => status >= 400)
          .sort((a, b) => a - b);
        assert.deepEqual(errors, EXPECTED_ERRORS[route], `${route}: error responses`);
        for (const [status, response] of Object.entries(op.responses))
          assert.ok((response.description ?? "").length > 0, `${route} ${status}: description`);
      }
    }
    assert.deepEqual(seen.sort(), Object.keys(EXPECTED_ERRORS).sort(), "every route is in the table");
    // The streaming mode of SysRq is documented with its line schema beside the JSON answer.
    const sysrq = doc.paths["/ports/{id}/sysrq"]?.["post"]?.responses["200"]?.content ?? {};
    assert.deepEqual(Object.keys(sysrq).sort(), ["application/json", "application/x-ndjson"]);
    assert.match(JSON.stringify(sysrq["application/x-ndjson"]?.schema), /"verdict".*"error"/s);
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
    assert.equal(
      value(before, 'sysrq_bridge_port_info{port="vm0",kind="telnet"}'),
      1,
      "the port's door as a label",
    );
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
