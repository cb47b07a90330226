/** The incident store's bounds: how many it keeps (memory and files), and the size of each file. */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import type { DetectedIncident } from "../../../src/recovery/detect/classifier.js";
import { IncidentStore, MAX_FILE_BYTES } from "../../../src/recovery/incidents.js";

const log = pino({ level: "silent" });

function detected(
  id: string,
  state: "open" | "closed",
  report: string[] = ["[ 1.0] Kernel panic - not syncing: x"],
): DetectedIncident {
  return {
    id,
    kinds: ["panic"],
    state,
    opened: new Date(0).toISOString(),
    trigger: { line: report[0] ?? "", seq: 1, offset: 0 },
    report,
    context: [],
    spans: [{ kind: "panic", start: 0, end: 10 }],
    patterns: [],
    truncated: false,
  };
}

describe("incident store", () => {
  it("keeps at most maxKept incidents, in memory and on disk, forgetting the oldest closed ones", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "incidents-"));
    const store = IncidentStore.open(dir, log, 5);
    for (let i = 0; i < 12; i += 1) store.upsert("vm0", detected(store.newId(), "closed"));
    await store.flush();
    const { incidents, next } = store.list({ ports: null });
    assert.deepEqual(
      incidents.map((i) => i.id),
      ["8", "9", "10", "11", "12"],
    );
    assert.equal(next, 13);
    assert.equal(readdirSync(path.join(dir, "incidents")).length, 5);
    assert.throws(() => store.get("1"), { code: "INCIDENT_NOT_FOUND" });
    const again = IncidentStore.open(dir, log, 5);
    assert.equal(again.list({ ports: null }).incidents.length, 5);
    assert.equal(again.newId(), "13");
  });

  it("writes each incident in at most 1 MiB, however long its report", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "incidents-"));
    const store = IncidentStore.open(dir, log);
    const huge = Array.from({ length: 40_000 }, (_, i) => `[ 2.${i}] \u0001${"\ufffd".repeat(40)}`);
    store.upsert("vm0", detected(store.newId(), "closed", huge));
    await store.flush();
    const size = statSync(path.join(dir, "incidents", "1.json")).size;
    assert.ok(size <= MAX_FILE_BYTES, `${size} bytes`);
    assert.ok(size > MAX_FILE_BYTES / 4, "and not cut far below the bound");
  });

  it("a port-scoped caller lists only its ports' incidents; since and state filter", () => {
    const store = IncidentStore.inMemory(log);
    store.upsert("vm0", detected(store.newId(), "closed"));
    store.upsert("vm1", detected(store.newId(), "open"));
    assert.deepEqual(
      store.list({ ports: new Set(["vm1"]) }).incidents.map((i) => i.port),
      ["vm1"],
    );
    assert.deepEqual(
      store.list({ ports: null, since: 2 }).incidents.map((i) => i.id),
      ["2"],
    );
    assert.deepEqual(
      store.list({ ports: null, state: "closed" }).incidents.map((i) => i.id),
      ["1"],
    );
  });

  it("rotation: raw says when an incident's start, then all of it, was rotated away; other ports and later offsets untouched", () => {
    const store = IncidentStore.inMemory(log);
    const at = (offset: number, end: number): DetectedIncident => {
      const incident = detected(store.newId(), "open");
      return {
        ...incident,
        trigger: { ...incident.trigger, offset },
        spans: [{ kind: "panic", start: offset, end }],
      };
    };
    const a = store.upsert("vm0", at(100, 200));
    const later = store.upsert("vm0", at(1000, 1100));
    const other = store.upsert("vm1", at(100, 200));
    store.rotated("vm0", 100);
    assert.equal(store.get(a.id).raw, undefined, "offset 100 is still on disk");
    store.rotated("vm0", 150);
    const part = store.get(a.id).raw;
    assert.deepEqual([part?.firstRetained, part?.whole], [150, false]);
    store.rotated("vm0", 160);
    assert.deepEqual(store.get(a.id).raw, part, "nothing new to say");
    store.rotated("vm0", 200);
    assert.deepEqual([store.get(a.id).raw?.firstRetained, store.get(a.id).raw?.whole], [200, true]);
    assert.equal(store.get(later.id).raw, undefined);
    assert.equal(store.get(other.id).raw, undefined);
    // The watcher's next write of the open incident keeps what the store added.
    store.upsert("vm0", { ...at(100, 200), id: a.id });
    assert.equal(store.get(a.id).raw?.whole, true);
  });
});
