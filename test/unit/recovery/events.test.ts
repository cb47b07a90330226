/**
 * The event hub without HTTP: the ring and Last-Event-ID, `missed`, the per-stream bound (a reader
 * that takes nothing holds at most queueMax events, then one `cut`), port scoping and the caps.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { pino } from "pino";
import type { PortRegistry } from "../../../src/ports/registry.js";
import { EventHub, type BridgeEvent, type EventStream } from "../../../src/recovery/events.js";
import { IncidentStore } from "../../../src/recovery/incidents.js";

const log = pino({ level: "silent" });
const noPorts = { list: () => [], onReplace: () => () => undefined } as unknown as PortRegistry;
const allGood = { health: () => "good" as const, onHealth: () => () => undefined };
const trigger = { line: "test", seq: 0, offset: 0 };

function hub(limits: Record<string, number> = {}): { hub: EventHub; store: IncidentStore } {
  const store = IncidentStore.inMemory(log);
  return { hub: new EventHub({ store, ports: noPorts, health: allGood, limits }), store };
}

async function take(stream: EventStream, n: number): Promise<BridgeEvent[]> {
  const out: BridgeEvent[] = [];
  for (let i = 0; i < n; i++) {
    const event = await stream.next();
    if (event === null) break;
    out.push(event);
  }
  return out;
}

describe("EventHub", () => {
  const hubs: EventHub[] = [];
  after(() => hubs.forEach((h) => h.close()));

  it("a stream that takes nothing holds at most queueMax events, then only `cut` with the id to resume from", async () => {
    const { hub: events, store } = hub({ queueMax: 5 });
    hubs.push(events);
    const stream = events.subscribe({ key: "a", ports: null });
    store.create("vm0", trigger);
    const [first] = await take(stream, 1);
    let most = 0;
    for (let i = 0; i < 1000; i++) {
      store.create("vm0", trigger);
      most = Math.max(most, stream.waiting);
    }
    assert.equal(most, 5);
    assert.equal(events.open, 0, "a cut stream frees its place");
    const rest = await take(stream, 10);
    assert.deepEqual(
      rest.map((e) => [e.name, e.id, e.data["reason"]]),
      [["cut", first!.id, "slow"]],
    );
    assert.equal(await stream.next(), null);
  });

  it("Last-Event-ID replays exactly what followed it; an id past the ring, or of another run, gets `missed`", async () => {
    const { hub: events, store } = hub({ ringSize: 10 });
    hubs.push(events);
    const live = events.subscribe({ key: "a", ports: null });
    for (let i = 0; i < 6; i++) store.create(i % 2 === 0 ? "vm0" : "vm1", trigger);
    const all = await take(live, 6);
    const resumed = events.subscribe({ key: "a", ports: null, lastEventId: all[2]!.id });
    assert.deepEqual(
      (await take(resumed, 3)).map((e) => e.id),
      all.slice(3).map((e) => e.id),
    );
    const scoped = events.subscribe({ key: "b", ports: new Set(["vm1"]), lastEventId: all[0]!.id });
    assert.deepEqual(
      (await take(scoped, 3)).map((e) => e.data["id"]),
      ["2", "4", "6"],
    );
    for (let i = 0; i < 20; i++) store.create("vm0", trigger);
    const old = events.subscribe({ key: "c", ports: null, lastEventId: all[0]!.id });
    const [missed] = await take(old, 1);
    assert.equal(missed!.name, "missed");
    const other = events.subscribe({ key: "c", ports: null, lastEventId: "zz-3" });
    assert.equal((await take(other, 1))[0]!.name, "missed");
    assert.throws(() => events.subscribe({ key: "d", ports: null, lastEventId: "3" }), {
      code: "VALIDATION",
    });
  });

  it("caps streams per key and in all (TOO_MANY_STREAMS), freed on close", () => {
    const { hub: events } = hub({ maxStreams: 3, maxStreamsPerToken: 2 });
    hubs.push(events);
    const a1 = events.subscribe({ key: "a", ports: null });
    events.subscribe({ key: "a", ports: null });
    assert.throws(() => events.subscribe({ key: "a", ports: null }), {
      code: "TOO_MANY_STREAMS",
      details: { limit: "token" },
    });
    events.subscribe({ key: "b", ports: null });
    assert.throws(() => events.subscribe({ key: "c", ports: null }), { details: { limit: "daemon" } });
    a1.close();
    events.subscribe({ key: "a", ports: null });
  });
});
