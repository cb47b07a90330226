/**
 * NMI and power through Redfish against a local HTTPS endpoint that serves resources shaped as in
 * DMTF's published mockups (ServiceRoot, SessionService, ComputerSystem with Actions and ActionInfo).
 * For NMI the console is an in-process telnet peer that prints what an x86 kernel prints when the
 * "BMC" fires; for power the BMC drives a real QEMU guest through QMP (ForceOff = stop, On = reset +
 * cont, ForceRestart = system_reset), so the verdict is the real boot banner.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile } from "node:fs/promises";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { QmpClient } from "../../src/control/qmp.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { startTestDaemon, waitUntil } from "../helpers/daemon.js";
import { startTarget, stopTarget, type Target } from "../helpers/qemu-target.js";
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

interface BmcHooks {
  /** The BMC acts on a reset it accepted (it answers once this resolves). */
  onReset(system: string, resetType: string): void | Promise<void>;
  /** The system's PowerState (default On). */
  powerState?(system: string): Promise<string>;
}

async function startBmc(dir: string, hooks: BmcHooks): Promise<Bmc> {
  makeSelfSignedCert(dir);
  const bmc: Bmc = {
    server: undefined as unknown as https.Server,
    origin: "",
    sessionsCreated: 0,
    sessionsDeleted: 0,
    resets: [],
  };
  const tokens = new Set<string>();
  const resources: Record<string, object> = {
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
    // Neither ForceOff nor a restart: power off / cycle / reset are refused before anything is sent.
    "/redfish/v1/Systems/4": system("4", {
      "ResetType@Redfish.AllowableValues": ["On", "GracefulShutdown", "Nmi"],
    }),
    // The real guest's: no PowerCycle, so cycle falls back on ForceRestart.
    "/redfish/v1/Systems/vm": system("vm", {
      "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart", "Nmi"],
    }),
  };
  bmc.server = https.createServer(
    { key: await readFile(path.join(dir, "key.pem")), cert: await readFile(path.join(dir, "cert.pem")) },
    (req, res) => {
      let text = "";
      req.on("data", (c: Buffer) => (text += c.toString()));
      const respond = async (): Promise<void> => {
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
        if (url === "/redfish/v1/Systems/huge") {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(`{"Name":"${"x".repeat(2 * 1024 * 1024)}"}`);
          return;
        }
        const basic = `Basic ${Buffer.from(`ops:${PASSWORD}`).toString("base64")}`;
        const token = req.headers["x-auth-token"];
        if (!(typeof token === "string" && tokens.has(token)) && req.headers.authorization !== basic)
          return send(401);
        if (req.method === "DELETE" && url.startsWith("/redfish/v1/SessionService/Sessions/")) {
          bmc.sessionsDeleted += 1;
          return send(204);
        }
        const reset = /^\/redfish\/v1\/Systems\/(\w+)\/Actions\/ComputerSystem\.Reset$/.exec(url);
        if (req.method === "POST" && reset) {
          const body = JSON.parse(text) as { ResetType: string };
          bmc.resets.push({ system: reset[1] ?? "", body });
          try {
            await hooks.onReset(reset[1] ?? "", body.ResetType);
          } catch {
            return send(500, { error: { code: "Base.1.8.InternalError" } });
          }
          return send(204);
        }
        const systemId = /^\/redfish\/v1\/Systems\/(\w+)$/.exec(url)?.[1];
        if (req.method === "GET" && systemId && hooks.powerState && resources[url]) {
          const state = await hooks.powerState(systemId).catch(() => "Unknown");
          return send(200, { ...resources[url], PowerState: state });
        }
        if (req.method === "GET" && resources[url]) return send(200, resources[url]);
        return send(404);
      };
      req.on("end", () => void respond());
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
    bmc = await startBmc(dir, {
      onReset: () => {
        for (const socket of consoles) {
          socket.write("[  41.000001] Uhhuh. NMI received for unknown reason 3d on CPU 0.\r\n");
          setTimeout(() => socket.write("[  41.000020] Dazed and confused, but trying to continue\r\n"), 5);
        }
      },
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
        { id: "power-limited", transport, power: redfish("4", {}) },
        { id: "power-bad-pw", transport, power: redfish("1", { passwordEnv: "SYSRQ_TEST_BMC_WRONG" }) },
        { id: "power-huge", transport, power: redfish("huge", { auth: "basic" }) },
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

  const power = (port: string, action: string) =>
    daemon.app.inject({ method: "POST", url: `/ports/${port}/power`, payload: { action, timeoutMs: 2000 } });

  it("power: a ResetType the BMC does not offer is 409 POWER_UNSUPPORTED naming what it offers; nothing sent", async () => {
    const before = { created: bmc.sessionsCreated, deleted: bmc.sessionsDeleted, resets: bmc.resets.length };
    for (const [action, wanted] of [
      ["off", "ForceOff"],
      ["cycle", "PowerCycle or ForceRestart"],
      ["reset", "ForceRestart or PowerCycle"],
    ] as const) {
      const res = await power("power-limited", action);
      assert.equal(res.statusCode, 409, res.body);
      assert.equal(res.json<{ code: string }>().code, "POWER_UNSUPPORTED");
      assert.match(
        res.json<{ message: string }>().message,
        new RegExp(`does not offer ResetType ${wanted} .*it offers On, GracefulShutdown, Nmi`),
      );
    }
    assert.equal(bmc.resets.length, before.resets, "no reset was posted");
    assert.equal(bmc.sessionsCreated - before.created, 3);
    assert.equal(bmc.sessionsDeleted - before.deleted, 3, "every session was deleted");
    // The channel tells the daemon (the crash watcher's note) only when a reset really leaves.
    const channel = daemon.ports.get("power-limited").powerChannel!;
    let sending = 0;
    await assert.rejects(channel.run("off", { sending: () => (sending += 1) }), { unsupported: true });
    assert.equal(sending, 0);
    await channel.run("on", { sending: () => (sending += 1) });
    assert.equal(sending, 1);
    assert.deepEqual(bmc.resets.slice(before.resets), [{ system: "4", body: { ResetType: "On" } }]);
    const info = await daemon.app.inject({ method: "GET", url: "/ports/power-limited" });
    assert.equal(
      info.json<{ capabilities: { power: { method: string } } }>().capabilities.power.method,
      "redfish",
    );
  });

  it("power: a BMC answer past 1 MiB is not read on: 502 POWER_FAILED", async () => {
    const res = await power("power-huge", "on");
    assert.equal(res.statusCode, 502, res.body);
    assert.match(res.json<{ message: string }>().message, /exceeds 1048576 bytes/);
  });

  it("power: a refused password is 502 POWER_FAILED without the secret", async () => {
    const resets = bmc.resets.length;
    const res = await power("power-bad-pw", "cycle");
    assert.equal(res.statusCode, 502);
    assert.equal(res.json<{ code: string }>().code, "POWER_FAILED");
    assert.match(res.json<{ message: string }>().message, /refused the credentials/);
    assert.ok(!res.body.includes("not-the-password") && !res.body.includes(PASSWORD));
    assert.equal(bmc.resets.length, resets);
  });
});

interface PowerBody {
  verdict: string;
  code?: string;
  evidence: { channel: string; steps: string[]; status?: string; banner: string | null };
}

describe(
  "power through Redfish on a real guest",
  { skip: skip || requireTools("qemu-system-x86_64", "cpio", "busybox"), timeout: 180_000 },
  () => {
    let bmc: Bmc;
    let bmcQmp: QmpClient;
    let target: Target | undefined;
    const vmStatus = async () => ((await bmcQmp.execute("query-status")) as { status: string }).status;

    before(async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-redfish-power-"));
      const sock = path.join(dir, "bmc-qmp.sock");
      bmcQmp = new QmpClient({ path: sock });
      // What a BMC does to the machine it manages, done to the VM through QMP.
      bmc = await startBmc(dir, {
        onReset: async (_system, resetType) => {
          const status = await vmStatus();
          switch (resetType) {
            case "ForceOff":
              await bmcQmp.execute("stop");
              return;
            case "On":
              if (status === "running") return; // already on: nothing to do
              await bmcQmp.execute("system_reset");
              await bmcQmp.execute("cont");
              return;
            case "ForceRestart":
              await bmcQmp.execute("system_reset");
              if (status !== "running") await bmcQmp.execute("cont");
              return;
            default:
              throw new Error(`the mock BMC does not act on ${resetType}`);
          }
        },
        powerState: async () => ((await vmStatus()) === "running" ? "On" : "Off"),
      });
      process.env["SYSRQ_TEST_BMC_PASSWORD"] = PASSWORD;
      target = await startTarget([], ["-qmp", `unix:${sock},server=on,wait=off`], {
        reboot: true,
        port: {
          power: {
            kind: "redfish",
            url: `${bmc.origin}/redfish/v1/Systems/vm`,
            username: "ops",
            passwordEnv: "SYSRQ_TEST_BMC_PASSWORD",
            caFile: path.join(dir, "cert.pem"),
          },
        },
      });
    });
    after(async () => {
      bmcQmp?.close();
      await stopTarget(target);
      bmc?.server.close();
    });

    it("off sends ForceOff (done once PowerState reads Off); on sends On and is done from the boot banner", async () => {
      const { api } = target!;
      const off = await api.post<PowerBody>("/ports/vm0/power", { action: "off" });
      assert.equal(off.status, 200, JSON.stringify(off.body));
      assert.deepEqual(
        [off.body.verdict, off.body.evidence.channel, off.body.evidence.status],
        ["done", "redfish", "Off"],
      );
      assert.deepEqual(off.body.evidence.steps, [
        'POST /redfish/v1/Systems/vm/Actions/ComputerSystem.Reset {"ResetType":"ForceOff"}',
        "GET /redfish/v1/Systems/vm: PowerState Off",
      ]);
      assert.equal(await vmStatus(), "paused");

      const on = await api.post<PowerBody>("/ports/vm0/power", { action: "on", timeoutMs: 60_000 });
      assert.equal(on.status, 200, JSON.stringify(on.body));
      assert.equal(on.body.verdict, "done");
      assert.match(on.body.evidence.banner ?? "", /Linux version/);
      assert.deepEqual(
        bmc.resets.map((r) => r.body),
        [{ ResetType: "ForceOff" }, { ResetType: "On" }],
      );
      // The next case freezes the guest wherever its boot is: no need to wait for its shell.
    });

    it("a frozen guest: cycle sends ForceRestart (the BMC offers no PowerCycle), done from the boot banner", async () => {
      const { api } = target!;
      await bmcQmp.execute("stop");
      const res = await api.post<PowerBody>("/ports/vm0/power", { action: "cycle", timeoutMs: 60_000 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.verdict, "done");
      assert.match(res.body.evidence.banner ?? "", /Linux version/);
      assert.deepEqual(res.body.evidence.steps, [
        'POST /redfish/v1/Systems/vm/Actions/ComputerSystem.Reset {"ResetType":"ForceRestart"}',
      ]);
      assert.deepEqual(bmc.resets.at(-1)?.body, { ResetType: "ForceRestart" });
      assert.equal(await vmStatus(), "running");
    });
  },
);
