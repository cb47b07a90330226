import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CENSORED, redactSecrets } from "../../src/logger.js";

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
});
