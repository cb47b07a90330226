/**
 * The piece every console door shares (src/clients/): key guard, lease-on-close, bounded input and
 * unread output, audit records. Tested here once; the doors' own tests (test/integration/console.test.ts,
 * the reexport-* e2e tests) cover what each door says about it.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { AuditLog } from "../../../src/audit/audit-log.js";
import { ConsoleClient, type ClientIdentity } from "../../../src/clients/console-client.js";
import type { ConsoleOp } from "../../../src/clients/input-queue.js";
import {
  MAX_PENDING_INPUT_BYTES,
  MAX_UNREAD_BYTES,
  PendingLimit,
  overUnread,
  type ClientLimit,
} from "../../../src/clients/limits.js";
import { BridgeError } from "../../../src/errors.js";
import { WriterLease } from "../../../src/ports/lease.js";
import type { KeyResult } from "../../../src/sysrq/result.js";

const quiet = pino({ level: "silent" });

async function openAudit(): Promise<{ audit: AuditLog; records: () => Record<string, unknown>[] }> {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), "client-audit-")), "audit.jsonl");
  const audit = await AuditLog.open({ file, fsync: "interval" }, quiet);
  const records = (): Record<string, unknown>[] =>
    readFileSync(file, "utf8")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { audit, records };
}

interface Made {
  readonly client: ConsoleClient;
  readonly lease: WriterLease;
  readonly pressure: boolean[];
}

function make(
  who: ClientIdentity | null,
  audit: AuditLog,
  run: (op: ConsoleOp) => Promise<void> = async () => undefined,
): Made {
  const lease = new WriterLease("p0");
  const pressure: boolean[] = [];
  const client = new ConsoleClient(
    {
      port: { id: "p0", lease },
      audit,
      log: quiet,
      address: "telnet:127.0.0.1:4000",
      auditFields: { via: "telnet" },
      run,
      pressure: (paused) => pressure.push(paused),
    },
    who,
  );
  return { client, lease, pressure };
}

/** A promise with its resolve, for ops and verdicts the test lets finish. */
function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open: (value: T) => void = () => undefined;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

describe("console client: key guard", () => {
  it("a destructive key needs admin, any other key operate; nobody before authentication", async () => {
    const { audit } = await openAudit();
    try {
      const operator = make({ name: "ops", role: "operate" }, audit).client;
      assert.doesNotThrow(() => operator.caller.checkKey("s"));
      assert.throws(
        () => operator.caller.checkKey("b"),
        (err: unknown) =>
          err instanceof BridgeError &&
          err.code === "FORBIDDEN" &&
          err.message === "SysRq key b needs the admin role; the arm was cancelled",
      );
      assert.doesNotThrow(() => make({ name: "root", role: "admin" }, audit).client.caller.checkKey("b"));
      assert.throws(
        () => make({ name: "viewer", role: "read" }, audit).client.caller.checkKey("s"),
        /operate role/,
      );
      const anonymous = make(null, audit).client;
      assert.throws(() => anonymous.caller.checkKey("s"), /operate role/);
      assert.equal(anonymous.mayOperate, false);
      assert.equal(anonymous.caller.name, "");
      anonymous.identify({ name: "late", role: "operate" });
      assert.equal(anonymous.caller.name, "late", "the port sees the name once the client authenticated");
      assert.equal(anonymous.mayOperate, true);
      assert.doesNotThrow(() => anonymous.caller.checkKey("s"));
    } finally {
      await audit.close();
    }
  });
});

describe("console client: lease on close", () => {
  it("without finishQueued, the lease goes at once, while an op still runs", async () => {
    const { audit } = await openAudit();
    const running = gate();
    const { client, lease } = make({ name: "ops", role: "operate" }, audit, () => running.promise);
    try {
      let detached = 0;
      client.untilEnd(() => (detached += 1));
      client.takeLease("websocket");
      assert.equal(client.holdsLease(), true);
      assert.equal(lease.current?.holder, "ops");
      client.push({ kind: "input", bytes: Buffer.from("ls\r") });
      assert.equal(client.busy, true);
      await client.end({ finishQueued: false });
      assert.equal(lease.current, null);
      assert.equal(detached, 1);
      running.open();
    } finally {
      await audit.close();
    }
  });

  it("with finishQueued, what the client queued runs under its lease, then the lease goes", async () => {
    const { audit } = await openAudit();
    const running = gate();
    const heldWhileRunning: boolean[] = [];
    let client: ConsoleClient | null = null;
    const made = make({ name: "ops", role: "operate" }, audit, async () => {
      await running.promise;
      heldWhileRunning.push(client?.holdsLease() ?? false);
    });
    client = made.client;
    try {
      client.takeLease("telnet");
      client.push({ kind: "input", bytes: Buffer.from("ls") });
      client.push({ kind: "break" });
      let ended = false;
      const end = client.end({ finishQueued: true }).then(() => (ended = true));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(ended, false, "end waits for the queued ops");
      assert.equal(made.lease.current?.holder, "ops");
      running.open();
      await end;
      assert.deepEqual(heldWhileRunning, [true, true]);
      assert.equal(made.lease.current, null);
      assert.equal(client.busy, false);
    } finally {
      await audit.close();
    }
  });

  it("a lease taken over is not released by the client that lost it", async () => {
    const { audit } = await openAudit();
    const { client, lease } = make({ name: "ops", role: "operate" }, audit);
    try {
      client.takeLease("telnet");
      const { lease: theirs } = lease.take({ holder: "root", via: "http", takeover: true });
      assert.equal(client.holdsLease(), false);
      assert.equal(client.releaseLease(), false);
      await client.end({ finishQueued: true });
      assert.equal(lease.current?.leaseId, theirs.leaseId);
    } finally {
      await audit.close();
    }
  });
});

describe("console client: audit records", () => {
  it("records who, from where, on which port, with the door's fields; keys' records before end resolves", async () => {
    const { audit, records } = await openAudit();
    const { client } = make({ name: "ops", role: "operate" }, audit);
    try {
      await client.audit("export-connect", { mode: "rw" });
      const verdict = gate<KeyResult>();
      client.keys.track({ dropped: 0, sysrq: { key: "s", result: verdict.promise } });
      let ended = false;
      const end = client.end({ finishQueued: true }).then(() => (ended = true));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(ended, false, "end waits for the key's verdict");
      verdict.open({ key: "s", action: "sync", verdict: "acknowledged", latencyMs: 12 });
      await end;
      const [connect, sysrq] = records();
      const { seq, ts, ...recorded } = connect ?? {};
      assert.equal(typeof seq, "number");
      assert.equal(typeof ts, "string");
      assert.deepEqual(recorded, {
        requestId: client.id,
        token: "ops",
        client: "telnet:127.0.0.1:4000",
        action: "export-connect",
        port: "p0",
        status: 200,
        via: "telnet",
        mode: "rw",
      });
      assert.equal(sysrq?.["action"], "console-sysrq");
      assert.equal(sysrq?.["key"], "s");
      assert.equal(sysrq?.["verdict"], "acknowledged");
    } finally {
      await audit.close();
    }
  });

  it("writes nothing for a client that has not authenticated", async () => {
    const { audit, records } = await openAudit();
    try {
      await make(null, audit).client.audit("console-input", { bytes: 3 });
      assert.deepEqual(records(), []);
    } finally {
      await audit.close();
    }
  });
});

describe("console client: bounds", () => {
  it("input waiting past MAX_PENDING_INPUT_BYTES pauses the client's socket until it drains", async () => {
    const { audit } = await openAudit();
    const running = gate();
    const { client, pressure } = make({ name: "ops", role: "operate" }, audit, () => running.promise);
    try {
      client.push({ kind: "input", bytes: Buffer.alloc(MAX_PENDING_INPUT_BYTES) });
      assert.deepEqual(pressure, []);
      client.push({ kind: "input", bytes: Buffer.alloc(1) });
      assert.deepEqual(pressure, [true]);
      running.open();
      await client.end({ finishQueued: true });
      assert.deepEqual(pressure, [true, false]);
    } finally {
      await audit.close();
    }
  });

  it("unread output past MAX_UNREAD_BYTES cuts a net socket or a WebSocket off", () => {
    const cuts: [ClientLimit, Readonly<Record<string, number>>][] = [];
    const cutOff = (limit: ClientLimit, detail: Readonly<Record<string, number>>): void => {
      cuts.push([limit, detail]);
    };
    assert.equal(overUnread({ writableLength: MAX_UNREAD_BYTES }, cutOff), false);
    assert.equal(overUnread({ bufferedAmount: MAX_UNREAD_BYTES }, cutOff), false);
    assert.deepEqual(cuts, []);
    assert.equal(overUnread({ writableLength: MAX_UNREAD_BYTES + 1 }, cutOff), true);
    assert.equal(overUnread({ bufferedAmount: MAX_UNREAD_BYTES + 2 }, cutOff), true);
    assert.deepEqual(cuts, [
      ["unread-output", { bytes: MAX_UNREAD_BYTES + 1, max: MAX_UNREAD_BYTES }],
      ["unread-output", { bytes: MAX_UNREAD_BYTES + 2, max: MAX_UNREAD_BYTES }],
    ]);
  });

  it("pending commands: past the limit, work is refused and never started", async () => {
    const pending = new PendingLimit(2);
    const first = gate();
    let started = 0;
    const work = (): Promise<void> => {
      started += 1;
      return first.promise;
    };
    assert.equal(pending.track(work), true);
    assert.equal(pending.track(work), true);
    assert.equal(pending.track(work), false);
    assert.equal(started, 2);
    first.open();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(pending.track(work), true, "settled work frees its place");
  });
});
