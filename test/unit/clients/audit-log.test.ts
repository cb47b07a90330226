import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { AuditLog, type AuditInput } from "../../../src/audit/audit-log.js";

const quiet = pino({ level: "silent" });
const input = (requestId: string): AuditInput => ({
  requestId,
  token: "lab",
  client: "127.0.0.1",
  action: "sysrq",
  port: "vm0",
  status: 200,
});
const fileLines = (file: string): { seq: number; requestId: string }[] =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { seq: number; requestId: string });

describe("AuditLog", () => {
  for (const fsync of ["interval", "always"] as const) {
    it(`fsync ${fsync}: a record is in the file when its append resolves, one turn's records in order`, async () => {
      const file = path.join(mkdtempSync(path.join(os.tmpdir(), "audit-")), "audit.jsonl");
      const audit = await AuditLog.open({ file, fsync }, quiet);
      try {
        const inFileWhenResolved: boolean[] = [];
        const appended = Array.from({ length: 50 }, (_, i) =>
          audit.append(input(`r${i}`)).then((record) => {
            inFileWhenResolved.push(fileLines(file).some((line) => line.seq === record.seq));
            return record;
          }),
        );
        assert.equal(readFileSync(file, "utf8"), "", "written after the turn, not during it");
        const records = await Promise.all(appended);
        assert.deepEqual(
          records.map((r) => r.seq),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.ok(inFileWhenResolved.every(Boolean));
        await audit.append(input("next turn"));
        assert.deepEqual(
          fileLines(file).map((line) => [line.seq, line.requestId]),
          [...records.map((r) => [r.seq, r.requestId]), [51, "next turn"]],
        );
      } finally {
        await audit.close();
      }
    });
  }

  it("numbers on across a restart, and the query sees a record as soon as its append resolved", async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "audit-")), "audit.jsonl");
    const first = await AuditLog.open({ file, fsync: "interval" }, quiet);
    await Promise.all([first.append(input("a")), first.append(input("b"))]);
    await first.close();
    const second = await AuditLog.open({ file, fsync: "interval" }, quiet);
    try {
      const appending = second.append(input("c"));
      const { records } = await second.query({ since: 0, limit: 10, ports: null });
      assert.deepEqual(
        records.map((r) => [r.seq, r.requestId]),
        [
          [1, "a"],
          [2, "b"],
          [3, "c"],
        ],
      );
      assert.equal((await appending).seq, 3);
    } finally {
      await second.close();
    }
  });
});
