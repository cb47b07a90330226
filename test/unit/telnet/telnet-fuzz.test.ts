/**
 * The telnet decoder under hostile and random option streams: against a plain byte-at-a-time
 * reference decoder, for random streams cut into random reads; an IAC SB never ended by IAC SE is
 * cut at MAX_SUBNEGOTIATION_BYTES with one `overflow` event whatever follows, in memory that stays flat.
 * (The same streams against the real listeners: test/e2e/fuzz-telnet.test.ts.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { random, type Random } from "../../helpers/random.js";
import { hostileStream } from "../../helpers/telnet-streams.js";
import {
  DONT,
  IAC,
  MAX_SUBNEGOTIATION_BYTES,
  SB,
  SE,
  TelnetDecoder,
  WILL,
  type Negotiation,
  type TelnetEvent,
} from "../../../src/telnet/codec.js";

const SEED = Number(process.env["FUZZ_SEED"] ?? 20261207);

/** RFC 854 the simple way, one byte at a time, with the same subnegotiation bound. */
function reference(bytes: Buffer, max: number): TelnetEvent[] {
  const events: TelnetEvent[] = [];
  let data: number[] = [];
  const flush = (): void => {
    if (data.length > 0) events.push({ type: "data", bytes: Buffer.from(data) });
    data = [];
  };
  let state = "data";
  let verb: Negotiation = WILL;
  let option = 0;
  let payload: number[] = [];
  for (const byte of bytes) {
    if (state === "data") {
      if (byte === IAC) state = "iac";
      else data.push(byte);
    } else if (state === "iac") {
      state = "data";
      if (byte === IAC) data.push(IAC);
      else if (byte >= WILL && byte <= DONT) [verb, state] = [byte as Negotiation, "negotiate"];
      else if (byte === SB) state = "sb-option";
      else {
        flush();
        events.push({ type: "command", command: byte });
      }
    } else if (state === "negotiate") {
      flush();
      events.push({ type: "negotiation", verb, option: byte });
      state = "data";
    } else if (state === "sb-option") {
      [option, payload, state] = [byte, [], "sb-data"];
    } else if (state === "sb-data" || state === "sb-iac") {
      if (state === "sb-data" && byte === IAC) {
        state = "sb-iac";
        continue;
      }
      if (state === "sb-data" || byte === IAC) {
        payload.push(byte);
        state = "sb-data";
        if (payload.length > max) {
          flush();
          events.push({ type: "overflow", limit: max });
          return events;
        }
        continue;
      }
      flush();
      events.push({ type: "subnegotiation", option, payload: Buffer.from(payload) });
      if (byte !== SE) events.push({ type: "command", command: byte });
      state = "data";
    }
  }
  flush();
  return events;
}

/** Adjacent data events merged, buffers copied out (the decoder's are views of reads it reuses). */
function normalise(events: readonly TelnetEvent[]): unknown[] {
  const out: unknown[] = [];
  for (const event of events) {
    const last = out.at(-1) as { type: string; bytes: Buffer } | undefined;
    if (event.type === "data" && last?.type === "data") last.bytes = Buffer.concat([last.bytes, event.bytes]);
    else if (event.type === "data") out.push({ type: "data", bytes: Buffer.from(event.bytes) });
    else if (event.type === "subnegotiation") out.push({ ...event, payload: Buffer.from(event.payload) });
    else out.push(event);
  }
  return out;
}

/** Feeds `stream` in random reads, each a fresh buffer (the decoder rewrites reads in place). */
function decodeInReads(decoder: TelnetDecoder, stream: Buffer, r: Random): TelnetEvent[] {
  const events: TelnetEvent[] = [];
  for (let at = 0; at < stream.length;) {
    const size = 1 + r.int(r.int(4) === 0 ? 4 : 200);
    events.push(...(normalise(decoder.decode(Buffer.from(stream.subarray(at, at + size)))) as TelnetEvent[]));
    at += size;
  }
  return events;
}

describe("telnet decoder fuzz (standard mode)", () => {
  it("decodes 3000 random hostile streams, cut into random reads, as the reference decoder does", () => {
    const r = random(SEED);
    for (let n = 0; n < 3000; n += 1) {
      const max = r.pick([8, 64, MAX_SUBNEGOTIATION_BYTES]);
      const stream = hostileStream(r, max);
      const expected = normalise(reference(stream, max));
      const got = normalise(decodeInReads(new TelnetDecoder("standard", max), stream, r));
      assert.deepEqual(got, expected, `stream ${n} (seed ${SEED}, max ${max}): ${stream.toString("hex")}`);
      for (const event of got as TelnetEvent[]) {
        if (event.type === "subnegotiation") assert.ok(event.payload.length <= max);
      }
    }
  });

  it("cuts an endless IAC SB at the bound: one overflow event, nothing after, memory flat", () => {
    const decoder = new TelnetDecoder("standard");
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const events: TelnetEvent[] = [...decoder.decode(Buffer.from([0x61, IAC, SB, 0x18]))];
    global.gc?.();
    const before = process.memoryUsage();
    // 300 MiB of 'A': kept byte by byte, this grew the heap twentyfold and then threw.
    for (let i = 0; i < 4800; i += 1) events.push(...decoder.decode(chunk));
    events.push(...decoder.decode(Buffer.from([IAC, SE, 0x62])));
    const after = process.memoryUsage();
    assert.deepEqual(normalise(events), [
      { type: "data", bytes: Buffer.from("a") },
      { type: "overflow", limit: MAX_SUBNEGOTIATION_BYTES },
    ]);
    const grown = after.heapUsed + after.external - (before.heapUsed + before.external);
    assert.ok(grown < 32 * 1024 * 1024, `memory grew by ${Math.round(grown / 1024 / 1024)} MiB`);
  });

  it("keeps a subnegotiation of exactly the bound, doubled IACs counted once", () => {
    const payload = Buffer.alloc(MAX_SUBNEGOTIATION_BYTES, 0x41);
    payload[10] = IAC;
    const escaped = Buffer.concat([payload.subarray(0, 11), Buffer.from([IAC]), payload.subarray(11)]);
    const stream = Buffer.concat([Buffer.from([IAC, SB, 0x18]), escaped, Buffer.from([IAC, SE])]);
    const events = new TelnetDecoder("standard").decode(stream);
    assert.deepEqual(events, [{ type: "subnegotiation", option: 0x18, payload }]);
    const over = Buffer.concat([Buffer.from([IAC, SB, 0x18]), escaped, Buffer.from([0x41, IAC, SE])]);
    assert.deepEqual(new TelnetDecoder("standard").decode(over), [
      { type: "overflow", limit: MAX_SUBNEGOTIATION_BYTES },
    ]);
  });
});
