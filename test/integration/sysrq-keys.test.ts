import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { authorizeKeys } from "../../src/api/auth/install-auth.js";
import { sha256 } from "../../src/config/security.js";
import type { Daemon } from "../../src/daemon/daemon.js";
import { KEY_TABLE, SysrqBit, bitMeaning, keyInfo } from "../../src/sysrq/keys.js";
import { FakeKernel } from "../kit/index.js";
import { startTestDaemon } from "../helpers/daemon.js";

const READ = "keys-read-token-0123456789";
const OPERATE = "keys-operate-token-0123456789";

interface SysrqKey {
  key: string;
  action: string;
  group: string;
  destructive: boolean;
  role: string;
  bit: number | null;
  bitMeaning: string | null;
}

describe("GET /sysrq/keys: the kernel key table as data", () => {
  let daemon: Daemon;

  before(async () => {
    daemon = await startTestDaemon({
      ports: [{ id: "vm0", transport: { kind: "telnet", host: "127.0.0.1", port: 4555 } }],
      createTransport: new FakeKernel().factory,
      config: {
        auth: {
          tokens: [
            { name: "viewer", role: "read", sha256: sha256(READ).toString("hex") },
            { name: "rig", role: "operate", sha256: sha256(OPERATE).toString("hex") },
          ],
        },
      },
    });
  });
  after(() => daemon.close());

  const get = (token?: string) =>
    daemon.app.inject({
      method: "GET",
      url: "/sysrq/keys",
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  it("needs a token, and a read token is enough", async () => {
    assert.equal((await get()).statusCode, 401);
    assert.equal((await get(READ)).statusCode, 200);
  });

  it("lists every key of src/sysrq/keys.ts once, with its action, bit and destructive flag", async () => {
    const { keys } = (await get(READ)).json<{ keys: SysrqKey[] }>();
    assert.deepEqual(keys.map((k) => k.key).sort(), KEY_TABLE.map((info) => info.key).sort());
    for (const entry of keys) {
      const info = keyInfo(entry.key);
      assert.equal(entry.action, info.action, entry.key);
      assert.equal(entry.destructive, info.destructive === true, entry.key);
      assert.equal(entry.bit, info.bit, entry.key);
      assert.equal(entry.bitMeaning, info.bit === null ? null : bitMeaning(info.bit), entry.key);
      const group = info.destructive ? "destructive" : info.bit === SysrqBit.DUMP ? "dumps" : "harmless";
      assert.equal(entry.group, group, entry.key);
      assert.equal(entry.role, info.destructive ? "admin" : "operate", entry.key);
    }
    const byKey = new Map(keys.map((k) => [k.key, k]));
    assert.equal(byKey.get("h")?.bit, null);
    assert.equal(byKey.get("t")?.bitMeaning, "debugging dumps");
    assert.equal(byKey.get("R")?.action, "Replay kernel logs on consoles", "upper case has its own slot");
  });

  it("orders harmless (h first), then dumps, then destructive, table order within a group", async () => {
    const { keys } = (await get(READ)).json<{ keys: SysrqKey[] }>();
    assert.equal(keys[0]?.key, "h");
    const groups = keys.map((k) => k.group);
    assert.deepEqual(
      groups,
      [...groups].sort(
        (a, b) =>
          ["harmless", "dumps", "destructive"].indexOf(a) - ["harmless", "dumps", "destructive"].indexOf(b),
      ),
    );
    const tableOrder = KEY_TABLE.map((info) => info.key).filter((key) => key !== "h");
    const listed = keys.map((k) => k.key).filter((key) => key !== "h");
    for (const group of ["harmless", "dumps", "destructive"]) {
      const inGroup = new Set(keys.filter((k) => k.group === group).map((k) => k.key));
      assert.deepEqual(
        listed.filter((key) => inGroup.has(key)),
        tableOrder.filter((key) => inGroup.has(key)),
        group,
      );
    }
    assert.deepEqual(
      keys.filter((k) => k.destructive).map((k) => k.key),
      ["b", "c", "e", "f", "i", "k", "o"],
    );
  });

  it("says the role the daemon enforces: an operate token is refused exactly the admin keys", async () => {
    const { keys } = (await get(READ)).json<{ keys: SysrqKey[] }>();
    const rig = { name: "rig", role: "operate" as const, ports: null };
    for (const entry of keys) {
      if (entry.role === "operate") {
        assert.doesNotThrow(() => authorizeKeys(rig, entry.key), entry.key);
        continue;
      }
      const res = await daemon.app.inject({
        method: "POST",
        url: "/ports/vm0/sysrq",
        headers: { authorization: `Bearer ${OPERATE}` },
        payload: { keys: entry.key },
      });
      assert.equal(res.statusCode, 403, entry.key);
      assert.equal(res.json<{ code: string }>().code, "FORBIDDEN", entry.key);
    }
  });

  it("appears in the OpenAPI document", async () => {
    const doc = (await daemon.app.inject({ method: "GET", url: "/docs/json" })).json<{
      paths: Record<string, unknown>;
    }>();
    assert.ok("/sysrq/keys" in doc.paths);
  });
});
