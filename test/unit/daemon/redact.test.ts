import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CENSORED, redactSecrets } from "../../../src/logger.js";

describe("redactSecrets (the log's streamWrite hook)", () => {
  it("passes a line without a secret-named key through as it is", () => {
    const line = `${JSON.stringify({ level: 30, msg: "the password was rotated", port: "vm0" })}\n`;
    assert.equal(redactSecrets(line), line);
  });

  it("censors authorization, cookie, password and secret at any depth, in arrays, in any case", () => {
    const line = `${JSON.stringify({
      password: "p1",
      req: { headers: { authorization: "Bearer t1", Cookie: "c1", accept: "*/*" } },
      redfish: [{ user: "admin", Password: "p2" }],
      nested: { deeper: { secret: { value: "s1" } } },
      msg: "x",
    })}\n`;
    const out = redactSecrets(line);
    assert.ok(out.endsWith("}\n"));
    for (const secret of ["p1", "t1", "c1", "p2", "s1"]) assert.ok(!out.includes(secret), secret);
    assert.deepEqual(JSON.parse(out), {
      password: CENSORED,
      req: { headers: { authorization: CENSORED, Cookie: CENSORED, accept: "*/*" } },
      redfish: [{ user: "admin", Password: CENSORED }],
      nested: { deeper: { secret: CENSORED } },
      msg: "x",
    });
  });

  it("withholds a line it cannot parse rather than pass a secret through", () => {
    const out = redactSecrets('{"password": "p1", broken\n');
    assert.ok(!out.includes("p1"));
    assert.match(out, /withheld/);
  });

  it("censors a credential-named query parameter's value wherever a URL is logged, and only that", () => {
    const line = `${JSON.stringify({
      req: { url: "/ports/vm0/log?limit=5&token=t1&match=key" },
      msg: 'Route GET:/x?access_token=t2\\"t3&API_KEY=t4#f not found',
    })}\n`;
    const out = redactSecrets(line);
    for (const secret of ["t1", "t2", "t3", "t4"]) assert.ok(!out.includes(secret), `${secret} in ${out}`);
    assert.match(out, /limit=5&token=\[redacted\]&match=key/);
    assert.match(out, /API_KEY=\[redacted\]#f/);
  });

  it("stays linear on a long URL of letters (no quadratic scan on the log's path)", () => {
    const line = `${JSON.stringify({ url: `/?${"a".repeat(16_000)}&${"tok".repeat(5000)}` })}\n`;
    const started = performance.now();
    redactSecrets(line);
    assert.ok(performance.now() - started < 50);
  });
});
