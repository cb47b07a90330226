/**
 * NMI through Redfish against a local HTTPS endpoint that serves resources shaped as in DMTF's
 * published mockups (ServiceRoot, SessionService, ComputerSystem with Actions and ActionInfo). The
 * console is an in-process telnet peer that prints what an x86 kernel prints when the "BMC" fires.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { makeSelfSignedCert } from "../helpers/tls.js";
import { requireTools } from "../helpers/tools.js";

const skip = requireTools("openssl");
const PASSWORD = "s3cret-bmc-pw";
const ALLOWED = ["On", "ForceOff", "GracefulShutdown", "ForceRestart", "Nmi", "PushPowerButton"];

interface Bmc {
  server: https.Server;
  origin: string;
  sessionsCreated: number;
  sessionsDeleted: number;
  resets: { system: string; body: unknown }[];
}

function system(id: string, reset: Record<string, unknown>) {
  return {
    "@odata.id": `/redfish/v1/Systems/${id}`,
    "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
    Id: id,
    Name: "Web Server",
    PowerState: "On",
    Actions: {
      "#ComputerSystem.Reset": { target: `/redfish/v1/Systems/${id}/Actions/ComputerSystem.Reset`, ...reset },
    },
  };
}

async function startBmc(dir: string, onNmi: () => void): Promise<Bmc> {
  makeSelfSignedCert(dir);
  const bmc: Bmc = {
    server: undefined as unknown as https.Server,
    origin: "",
    sessionsCreated: 0,
    sessionsDeleted: 0,
    resets: [],
  };
  const tokens = new Set<string>();
  const resources: Record<string, unknown> = {
    "/redfish/v1/Systems/1": system("1", { "ResetType@Redfish.AllowableValues": ALLOWED }),
    "/redfish/v1/Systems/2": system("2", { "@Redfish.ActionInfo": "/redfish/v1/Systems/2/ResetActionInfo" }),
    "/redfish/v1/Systems/2/ResetActionInfo": {
      "@odata.id": "/redfish/v1/Systems/2/ResetActionInfo",
      "@odata.type": "#ActionInfo.v1_1_2.ActionInfo",
      Parameters: [{ Name: "ResetType", Required: true, DataType: "String", AllowableValues: ALLOWED }],
    },
    "/redfish/v1/Systems/3": system("3", {
      "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"],
    }),
  };
  bmc.server = https.createServer(
    { key: await readFile(path.join(dir, "key.pem")), cert: await readFile(path.join(dir, "cert.pem")) },
    (req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => (text += c.toString()));
      req.on("end", () => {
        const url = req.url ?? "";
        const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
          res.writeHead(status, { "content-type": "application/json", ...headers });
          res.end(body === undefined ? "" : JSON.stringify(body));
        };
        if (req.method === "POST" && url === "/redfish/v1/SessionService/Sessions") {
          const { UserName, Password } = JSON.parse(text) as { UserName: string; Password: string };
          if (UserName !== "ops" || Password !== PASSWORD)
            return send(401, { error: { code: "Base.1.8.GeneralError" } });
          bmc.sessionsCreated += 1;
          const token = `token-${bmc.sessionsCreated}`;
          tokens.add(token);
          return send(
            201,
            { Id: String(bmc.sessionsCreated) },
            {
              "x-auth-token": token,
              location: `/redfish/v1/SessionService/Sessions/${bmc.sessionsCreated}`,
            },
          );
        }
        const basic = `Basic ${Buffer.from(`ops:${PASSWORD}`).toString("base64")}`;
        const token = req.headers["x-auth-token"];
        if (!(typeof token === "string" && tokens.has(token)) && req.headers.authorization !== basic)
          return send(401);
        if (req.method === "DELETE" && url.startsWith("/redfish/v1/SessionService/Sessions/")) {
          bmc.sessionsDeleted += 1;
          return send(204);
        }
        const reset = /^\/redfish\/v1\/Systems\/(\d)\/Actions\/ComputerSystem\.Reset$/.exec(url);
        if (req.method === "POST" && reset) {
          bmc.resets.push({ system: reset[1] ?? "", body: JSON.parse(text) });
          onNmi();
          return send(204);
        }
        if (req.method === "GET" && resources[url]) return send(200, resources[url]);
        return send(404);
      });
    },
  );
  await new Promise<void>((resolve) => bmc.server.listen(0, "127.0.0.1", resolve));
  bmc.origin = `https://127.0.0.1:${(bmc.server.address() as net.AddressInfo).port}`;
  return bmc;
}

describe("NMI through Redfish", { skip, timeout: 60_000 }, () => {
  let bmc: Bmc;
  let consolePeer: net.Server;
  const consoles = new Set<net.Socket>();
  let daemon: Daemon;

  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-redfish-"));
    consolePeer = net.createServer((socket) => {
      consoles.add(socket);
      socket.on("close", () => consoles.delete(socket));
    });
    await new Promise<void>((resolve) => consolePeer.listen(0, "127.0.0.1", resolve));
    const consolePort = (consolePeer.address() as net.AddressInfo).port;
    bmc = await startBmc(dir, () => {
      for (const socket of consoles) {
        socket.write("[  41.000001] Uhhuh. NMI received for unknown reason 3d on CPU 0.\r\n");
        setTimeout(() => socket.write("[  41.000020] Dazed and confused, but trying to continue\r\n"), 5);
      }
    });
    process.env["SYSRQ_TEST_BMC_PASSWORD"] = PASSWORD;
    process.env["SYSRQ_TEST_BMC_WRONG"] = "not-the-password";
    const transport = { kind: "telnet", host: "127.0.0.1", port: consolePort, mode: "standard" };
    const redfish = (system: string, extra: Record<string, unknown>) => ({
      kind: "redfish",
      url: `${bmc.origin}/redfish/v1/Systems/${system}`,
      username: "ops",
      passwordEnv: "SYSRQ_TEST_BMC_PASSWORD",
      caFile: path.join(dir, "cert.pem"),
      ...extra,
    });
    daemon = await startTestDaemon({
      ports: [
        { id: "session", transport, nmi: redfish("1", {}) },
        { id: "basic", transport, nmi: redfish("2", { auth: "basic" }) },
        { id: "no-nmi", transport, nmi: redfish("3", {}) },
        { id: "bad-pw", transport, nmi: redfish("1", { passwordEnv: "SYSRQ_TEST_BMC_WRONG" }) },
        { id: "untrusted", transport, nmi: { ...redfish("1", {}), caFile: undefined } },
      ].map((p) => JSON.parse(JSON.stringify(p)) as unknown),
    });
    await waitUntil(() => daemon.ports.list().every((p) => p.info().state === "open"), 5000, "consoles open");
  });
  after(async () => {
    await daemon?.close();
    for (const socket of consoles) socket.destroy();
    consolePeer?.close();
    bmc?.server.close();
  });

  const nmi = (port: string) =>
    daemon.app.inject({ method: "POST", url: `/ports/${port}/nmi`, payload: { timeoutMs: 2000 } });

  it("creates a session, posts ResetType Nmi to the action target, deletes the session, and reads the verdict", async () => {
    const before = { created: bmc.sessionsCreated, deleted: bmc.sessionsDeleted, resets: bmc.resets.length };
    const res = await nmi("session");
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ verdict: string; line: string }>();
    assert.equal(body.verdict, "acknowledged");
    assert.match(body.line, /Dazed and confused/);
    assert.deepEqual(bmc.resets.slice(before.resets), [{ system: "1", body: { ResetType: "Nmi" } }]);
    assert.equal(bmc.sessionsCreated, before.created + 1);
    assert.equal(bmc.sessionsDeleted, before.deleted + 1, "the session was deleted");
  });

  it("uses basic auth and finds Nmi behind @Redfish.ActionInfo", async () => {
    const before = bmc.sessionsCreated;
    const res = await nmi("basic");
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(bmc.resets.at(-1)?.system, "2");
    assert.equal(bmc.sessionsCreated, before, "no session with basic auth");
  });

  it("refuses clearly with 409 NMI_UNSUPPORTED when the system does not offer Nmi", async () => {
    const resets = bmc.resets.length;
    const res = await nmi("no-nmi");
    assert.equal(res.statusCode, 409);
    assert.equal(res.json<{ code: string }>().code, "NMI_UNSUPPORTED");
    assert.match(res.json<{ message: string }>().message, /offers On, ForceOff, ForceRestart/);
    assert.equal(bmc.resets.length, resets);
  });

  it("reports a refused password as 502 NMI_FAILED without the secret in the message", async () => {
    const res = await nmi("bad-pw");
    assert.equal(res.statusCode, 502);
    assert.equal(res.json<{ code: string }>().code, "NMI_FAILED");
    assert.match(res.json<{ message: string }>().message, /refused the credentials/);
    assert.ok(!res.body.includes("not-the-password") && !res.body.includes(PASSWORD));
  });

  it("verifies TLS: a BMC certificate it cannot trust fails the request", async () => {
    const res = await nmi("untrusted");
    assert.equal(res.statusCode, 502);
    assert.match(res.json<{ message: string }>().message, /self.signed|certificate/i);
  });
});
