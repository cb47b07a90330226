/**
 * Reloading the config of the built daemon (POST /reload and SIGHUP) against real consoles: TCP
 * targets that print lines and count the connections they accept, and a socat pty with a UUCP lock.
 * An unchanged port keeps its very connection and its capture has no gap; a changed one reconnects;
 * a removed one answers 404 and releases its lock; tokens, log level and retainLines apply at once;
 * an invalid config, a `listen` change and an export listener that cannot bind leave the old config.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { listening, run, type BinProcess } from "../helpers/bin.js";
import { waitUntil } from "../helpers/daemon.js";
import { startPtyPair, type PtyPair } from "../helpers/socat.js";
import { requireTools } from "../helpers/tools.js";
import { freeTcpPort } from "../kit/index.js";

/** A console that prints `burst` lines at each connect, then a line every 50 ms; counts its connections. */
interface Target {
  readonly port: number;
  accepted: number;
  closed: number;
  close(): Promise<void>;
}

async function startTarget(name: string, burst = 0): Promise<Target> {
  const sockets = new Set<net.Socket>();
  const target: Target = {
    port: 0,
    accepted: 0,
    closed: 0,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((socket) => {
    target.accepted += 1;
    sockets.add(socket);
    let n = 0;
    socket.write(Array.from({ length: burst }, (_, i) => `${name} burst ${i}\r\n`).join(""));
    const timer = setInterval(() => socket.write(`${name} tick ${n++}\r\n`), 50);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearInterval(timer);
      sockets.delete(socket);
      target.closed += 1;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (target as { port: number }).port = (server.address() as net.AddressInfo).port;
  return target;
}

const sha256 = (secret: string) => createHash("sha256").update(secret).digest("hex");
const ADMIN = "admin-secret-0123456789";
const OLD = "old-reader-secret-0123";
const NEW = "new-reader-secret-0123";

describe("config reload", { skip: requireTools("socat"), timeout: 90_000 }, () => {
  let dir: string;
  let file: string;
  let httpPort: number;
  let daemon: BinProcess;
  let keep: Target;
  let change: Target;
  let fresh: Target;
  let pty: PtyPair;
  let base: Record<string, unknown>;

  const get = (url: string, token = ADMIN) =>
    fetch(`http://127.0.0.1:${httpPort}${url}`, { headers: { authorization: `Bearer ${token}` } });
  const reload = async () => {
    const res = await fetch(`http://127.0.0.1:${httpPort}/reload`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const writeConfig = (doc: Record<string, unknown>) => writeFile(file, JSON.stringify(doc));
  const gaps = (id: string) =>
    readFileSync(path.join(dir, "capture", `${id}.index.jsonl`), "utf8")
      .split("\n")
      .filter((line) => line.includes('"gap":true')).length;
  const lockFiles = () => readdirSync(path.join(dir, "lock")).filter((name) => name.startsWith("LCK.."));
  const telnet = (target: Target) => ({ kind: "telnet", host: "127.0.0.1", port: target.port });

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "sysrq-reload-"));
    await mkdir(path.join(dir, "lock"));
    file = path.join(dir, "config.json");
    httpPort = await freeTcpPort();
    keep = await startTarget("keep", 300);
    change = await startTarget("change");
    fresh = await startTarget("fresh");
    pty = await startPtyPair(path.join(dir, "ttyD"), path.join(dir, "ttyT"));
    base = {
      listen: { host: "127.0.0.1", port: httpPort },
      captureDir: "./capture",
      lockDir: "./lock",
      auth: {
        tokens: [
          { name: "admin", role: "admin", sha256: sha256(ADMIN) },
          { name: "old", role: "read", sha256: sha256(OLD) },
        ],
      },
      log: { level: "info" },
    };
    await writeConfig({
      ...base,
      ports: [
        { id: "keep", transport: telnet(keep) },
        { id: "change", transport: telnet(change) },
        { id: "gone", transport: { kind: "tty", path: pty.daemonSide } },
      ],
    });
    daemon = run(["--config", file]);
    await listening(daemon, httpPort);
    await waitUntil(() => keep.accepted === 1 && change.accepted === 1, 10_000, "both consoles connected");
    await waitUntil(() => lockFiles().length === 1, 10_000, "the tty's lock");
  });

  after(async () => {
    daemon.child.kill("SIGTERM");
    await daemon.exited;
    await Promise.all([keep.close(), change.close(), fresh.close(), pty.stop()]);
  });

  it("adds, removes and restarts ports, leaving an unchanged one's connection and capture alone", async () => {
    const gapsBefore = gaps("keep");
    const logBefore = (await (await get("/ports/keep/log?limit=1000")).json()) as { lines: unknown[] };
    assert.ok(logBefore.lines.length > 100, `the burst is retained (${logBefore.lines.length} lines)`);
    await writeConfig({
      ...base,
      auth: {
        tokens: [
          { name: "admin", role: "admin", sha256: sha256(ADMIN) },
          { name: "new", role: "read", sha256: sha256(NEW) },
        ],
      },
      log: { level: "debug" },
      retainLines: 100,
      ports: [
        { id: "keep", transport: telnet(keep) },
        { id: "change", transport: telnet(change), queueLimit: 7 },
        { id: "fresh", transport: telnet(fresh) },
      ],
    });
    const { status, body } = await reload();
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(body, { added: ["fresh"], removed: ["gone"], changed: ["change"], unchanged: ["keep"] });

    // Changed: reconnected; added: connected and served; removed: 404 and its lock released.
    await waitUntil(() => change.accepted === 2, 10_000, "the changed port to reconnect");
    await waitUntil(() => fresh.accepted === 1, 10_000, "the added port to connect");
    assert.equal((await get("/ports/fresh")).status, 200);
    assert.equal((await get("/ports/gone")).status, 404);
    assert.deepEqual(lockFiles(), []);

    // Unchanged: the same connection (never closed, never another), its capture without a gap.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(keep.accepted, 1);
    assert.equal(keep.closed, 0);
    assert.equal(gaps("keep"), gapsBefore);
    const ports = (await (await get("/ports")).json()) as { id: string; state: string }[];
    assert.equal(ports.find((p) => p.id === "keep")?.state, "open");

    // retainLines: the ring now holds the newest 100.
    const logAfter = (await (await get("/ports/keep/log?limit=1000")).json()) as { lines: unknown[] };
    assert.ok(logAfter.lines.length <= 110, `${logAfter.lines.length} lines retained`);

    // Tokens: the removed one is refused, the added one is taken.
    assert.equal((await get("/ports", OLD)).status, 401);
    assert.equal((await get("/ports", NEW)).status, 200);

    // log.level debug reaches the HTTP logger made at start: a repeated failure is logged at debug.
    await get("/ports", "wrong-token-0");
    await waitUntil(
      () =>
        daemon
          .output()
          .stdout.split("\n")
          .some(
            (line) => line.includes('"level":20') && line.includes("request without a valid token refused"),
          ),
      5000,
      "a debug line",
    );

    const audit = (await (await get("/audit")).json()) as { entries: Record<string, unknown>[] };
    const record = audit.entries.findLast((entry) => entry["action"] === "reload");
    assert.equal(record?.["status"], 200);
    assert.deepEqual(record?.["added"], ["fresh"]);
  });

  it("an invalid config answers 400 CONFIG_INVALID with the key's path and changes nothing", async () => {
    const good = readFileSync(file, "utf8");
    const doc = JSON.parse(good) as { ports: unknown[] };
    await writeConfig({ ...doc, ports: [...doc.ports, doc.ports[0]] });
    const { status, body } = await reload();
    assert.equal(status, 400);
    assert.equal(body["code"], "CONFIG_INVALID");
    assert.deepEqual(body["errors"], [{ path: "ports.3.id", message: 'duplicate port id "keep"' }]);
    assert.equal((await get("/ports/fresh")).status, 200);

    await writeConfig({ ...doc, listen: { host: "127.0.0.1", port: httpPort + 1 } });
    const listen = await reload();
    assert.equal(listen.status, 400);
    assert.deepEqual(
      (listen.body["errors"] as { path: string }[]).map((e) => e.path),
      ["listen"],
      JSON.stringify(listen.body),
    );
    assert.match(String(listen.body["message"]), /listen: cannot change while the daemon runs/);
    assert.equal((await get("/ports/fresh")).status, 200);

    const audit = (await (await get("/audit")).json()) as { entries: Record<string, unknown>[] };
    const records = audit.entries.filter((entry) => entry["action"] === "reload");
    assert.equal(records.at(-1)?.["status"], 400);
    assert.equal(records.at(-1)?.["code"], "CONFIG_INVALID");
    assert.deepEqual(records.at(-1)?.["errors"], listen.body["errors"]);
    await writeFile(file, good);
  });

  it("an export listener that cannot bind refuses the whole reload", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const takenPort = (taken.address() as net.AddressInfo).port;
    const good = readFileSync(file, "utf8");
    try {
      const doc = JSON.parse(good) as { ports: Record<string, unknown>[] };
      // fresh goes and keep gets a listener on a taken port: neither happens.
      const ports = doc.ports
        .filter((port) => port["id"] !== "fresh")
        .map((port) =>
          port["id"] === "keep"
            ? { ...port, export: { telnet: { host: "127.0.0.1", port: takenPort, as: "admin" } } }
            : port,
        );
      await writeConfig({ ...doc, ports });
      const { status, body } = await reload();
      assert.equal(status, 400, JSON.stringify(body));
      assert.deepEqual(
        (body["errors"] as { path: string }[]).map((e) => e.path),
        ["ports.0.export.telnet"],
      );
      assert.equal((await get("/ports/fresh")).status, 200);
      assert.equal(keep.accepted, 1);
      assert.equal(keep.closed, 0);
    } finally {
      await writeFile(file, good);
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it("SIGHUP reloads the same way, audited as the signal", async () => {
    const doc = JSON.parse(readFileSync(file, "utf8")) as { ports: Record<string, unknown>[] };
    await writeConfig({ ...doc, ports: doc.ports.filter((port) => port["id"] !== "fresh") });
    daemon.child.kill("SIGHUP");
    await waitUntil(async () => (await get("/ports/fresh")).status === 404, 10_000, "fresh removed");
    await waitUntil(() => fresh.closed === 1, 5000, "fresh's connection closed");
    assert.equal(daemon.child.exitCode, null);
    const audit = (await (await get("/audit")).json()) as { entries: Record<string, unknown>[] };
    const record = audit.entries.findLast((entry) => entry["action"] === "reload");
    assert.equal(record?.["token"], "(SIGHUP)");
    assert.deepEqual(record?.["removed"], ["fresh"]);
    assert.equal(keep.accepted, 1);
    assert.equal(keep.closed, 0);
  });
});
