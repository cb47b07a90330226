/**
 * The pdudaemon channel against an in-process HTTP listener (the hostile cases: a refusal, an answer
 * too big, one that never comes, nothing listening), and the Redfish channel's ResetType choice.
 * The real pdudaemon drives a real guest in test/e2e/power-probe.test.ts.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type net from "node:net";
import { after, before, describe, it } from "node:test";
import type { PduDaemonPowerConfig } from "../../../src/config/types.js";
import { PowerChannelError } from "../../../src/control/power-channel.js";
import { REPLY_LIMIT, pduDaemonPowerChannel, pduDaemonUrl } from "../../../src/control/power-pdudaemon.js";
import { chooseResetType } from "../../../src/control/power-redfish.js";

async function failure(work: Promise<unknown>): Promise<PowerChannelError> {
  try {
    await work;
  } catch (err) {
    assert.ok(err instanceof PowerChannelError, String(err));
    return err;
  }
  throw new Error("expected a PowerChannelError");
}

describe("pdudaemon power channel", () => {
  const seen: string[] = [];
  let server: http.Server;
  let base = "";
  before(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.url ?? "");
      const hostname = new URL(req.url ?? "/", "http://x").searchParams.get("hostname");
      if (hostname === "silent") return; // never answers
      if (hostname === "chatty") {
        res.writeHead(200);
        res.end("x".repeat(REPLY_LIMIT + 1));
        return;
      }
      if (hostname !== "pdu-rack3") {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end("Invalid request\n");
        return;
      }
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("OK - accepted request\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const config = (extra: Partial<PduDaemonPowerConfig> = {}): PduDaemonPowerConfig => ({
    kind: "pdudaemon",
    url: base,
    hostname: "pdu-rack3",
    outlet: 7,
    delaySeconds: 5,
    timeoutMs: 2000,
    ...extra,
  });

  it("maps on / off to /power/control/on|off and cycle / reset to /reboot with the delay", async () => {
    assert.equal(
      pduDaemonUrl(config({ url: "http://pdu:16421/" }), "on").href,
      "http://pdu:16421/power/control/on?hostname=pdu-rack3&port=7",
    );
    const channel = pduDaemonPowerChannel(config());
    let sent = 0;
    const from = seen.length;
    for (const action of ["on", "off", "cycle", "reset"] as const) {
      const outcome = await channel.run(action, { sending: () => (sent += 1) });
      assert.equal(outcome.reply, "OK - accepted request");
    }
    assert.deepEqual(seen.slice(from), [
      "/power/control/on?hostname=pdu-rack3&port=7",
      "/power/control/off?hostname=pdu-rack3&port=7",
      "/power/control/reboot?hostname=pdu-rack3&port=7&delay=5",
      "/power/control/reboot?hostname=pdu-rack3&port=7&delay=5",
    ]);
    assert.equal(sent, 4);
  });

  it("a refusal (500 Invalid request for an unknown PDU) fails with the request and its answer", async () => {
    const err = await failure(pduDaemonPowerChannel(config({ hostname: "nope" })).run("cycle"));
    assert.match(
      err.message,
      /refused GET \/power\/control\/reboot\?hostname=nope.*HTTP 500 "Invalid request"/,
    );
    assert.deepEqual(err.outcome.steps, ["GET /power/control/reboot?hostname=nope&port=7&delay=5"]);
    assert.equal(err.outcome.reply, "Invalid request");
    assert.equal(err.unsupported, false);
  });

  it("an answer past REPLY_LIMIT is not read on", async () => {
    const err = await failure(pduDaemonPowerChannel(config({ hostname: "chatty" })).run("on"));
    assert.match(err.message, new RegExp(`more than ${REPLY_LIMIT} bytes`));
  });

  it("no answer: fails at timeoutMs", async () => {
    const start = Date.now();
    const err = await failure(
      pduDaemonPowerChannel(config({ hostname: "silent", timeoutMs: 300 })).run("off"),
    );
    assert.match(err.message, /no answer within 300 ms/);
    assert.ok(Date.now() - start < 2000);
  });

  it("nothing listening: fails with the connection error", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await failure(pduDaemonPowerChannel(config({ url: `http://127.0.0.1:${port}` })).run("on"));
    assert.match(err.message, /ECONNREFUSED/);
  });
});

describe("Redfish power: the ResetType each action sends", () => {
  it("prefers PowerCycle for cycle and ForceRestart for reset, falling back on the other", () => {
    const all = ["On", "ForceOff", "ForceRestart", "PowerCycle"];
    assert.deepEqual(
      (["on", "off", "cycle", "reset"] as const).map((a) => chooseResetType(a, all)),
      ["On", "ForceOff", "PowerCycle", "ForceRestart"],
    );
    assert.equal(chooseResetType("cycle", ["On", "ForceOff", "ForceRestart"]), "ForceRestart");
    assert.equal(chooseResetType("reset", ["On", "PowerCycle"]), "PowerCycle");
  });

  it("none when the BMC offers none of them; ForceRestart when it lists nothing", () => {
    assert.equal(chooseResetType("off", ["On", "GracefulShutdown"]), null);
    assert.equal(chooseResetType("cycle", ["On", "ForceOff"]), null);
    assert.equal(chooseResetType("cycle", null), "ForceRestart");
    assert.equal(chooseResetType("on", null), "On");
  });
});
