import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IpmitoolLineFilter, MAX_HELD } from "../../../src/transports/ipmi-sol-filter.js";

/** Feeds the reads one by one; returns what the capture would get. */
function run(...reads: (string | Buffer)[]): string {
  const filter = new IpmitoolLineFilter();
  return Buffer.concat(
    reads.map((r) => filter.push(typeof r === "string" ? Buffer.from(r, "latin1") : r)),
  ).toString("latin1");
}

describe("ipmi-sol: ipmitool's own lines stay out of the capture", () => {
  it("drops the session banner, break confirmation and termination line, byte-exact", () => {
    assert.equal(
      run(
        "[SOL Session operational.  Use ~? for help]\r\n",
        "login: ",
        "\r\n~B [send break]\r\n",
        "[  12.3] sysrq: HELP\r\n",
        "~. [terminated ipmitool]\n",
      ),
      "login: \r\n[  12.3] sysrq: HELP\r\n",
    );
  });

  it("drops a line split across reads, byte by byte", () => {
    const text = "boot\r\n[SOL Session operational.  Use ~? for help]\nafter\r\n";
    const filter = new IpmitoolLineFilter();
    const out = Buffer.concat([...Buffer.from(text)].map((b) => filter.push(Buffer.from([b]))));
    assert.equal(out.toString("latin1"), "boot\r\nafter\r\n");
    assert.equal(run("[SOL Sess", "ion operational.  Use ~? for help]\r", "\nok"), "ok");
  });

  it("releases a line start that only looked like one of ipmitool's, unchanged and in order", () => {
    assert.equal(run("[SOL", " is not ipmitool]\r\n"), "[SOL is not ipmitool]\r\n");
    assert.equal(run("~", "x\r\n", "[  1.0] ok\r\n"), "~x\r\n[  1.0] ok\r\n");
    assert.equal(
      run("mid [SOL Session operational.  Use ~? for help]\r\n"),
      "mid [SOL Session operational.  Use ~? for help]\r\n",
    );
    const bin = Buffer.from([0x5b, 0x00, 0xff, 0x0d, 0x0a]);
    assert.deepEqual(new IpmitoolLineFilter().push(bin), bin, "binary after '[' passes as it is");
  });

  it("holds at most MAX_HELD bytes: a long line that starts like ipmitool's is released", () => {
    const long = `[terminated ipmitool]${"x".repeat(MAX_HELD + 10)}`;
    const out = run(long, "\r\nnext\r\n");
    assert.ok(out.endsWith("next\r\n"), "the following line passes");
    assert.ok(out.length > MAX_HELD, "the long line is released, not held forever");
  });
});

describe("ipmi-sol: ipmitool's break confirmation after a prompt with no line end", () => {
  it("drops '~B [send break]' mid-line (busybox's prompt ends in ESC[6n), keeps other tildes", () => {
    assert.equal(
      run("/ # \x1b[6n", "~B [send break]\n", "[    4.41] sysrq: HELP\r\n"),
      "/ # \x1b[6n[    4.41] sysrq: HELP\r\n",
    );
    assert.equal(run("a ~/x ~", "B is not\r\n"), "a ~/x ~B is not\r\n");
  });

  it("tells onBanner when the session is up", () => {
    let up = 0;
    const filter = new IpmitoolLineFilter(() => (up += 1));
    filter.push(Buffer.from("[SOL Session "));
    assert.equal(up, 0, "not before the banner is told apart");
    filter.push(Buffer.from("operational.  Use ~? for help]\r\n"));
    assert.equal(up, 1, "once the banner went by");
  });
});
