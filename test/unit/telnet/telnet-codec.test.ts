import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  BREAK_BYTES,
  DO,
  DONT,
  TelnetDecoder,
  WILL,
  WONT,
  escapeData,
  type TelnetEvent,
} from "../../../src/telnet/codec.js";
import { TelnetOptions } from "../../../src/telnet/options.js";

const QEMU_OPENING = [0xff, 0xfb, 0x01, 0xff, 0xfb, 0x03, 0xff, 0xfb, 0x00, 0xff, 0xfd, 0x00];

function dataOf(events: TelnetEvent[]): Buffer {
  return Buffer.concat(events.flatMap((e) => (e.type === "data" ? [e.bytes] : [])));
}

/** Feeds the stream one byte at a time and as one chunk: both must decode the same. */
function decodeBothWays(
  mode: "qemu" | "standard",
  bytes: number[],
): { whole: TelnetEvent[]; split: TelnetEvent[] } {
  const whole = new TelnetDecoder(mode).decode(Buffer.from(bytes));
  const byteWise = new TelnetDecoder(mode);
  const split = bytes.flatMap((b) => byteWise.decode(Buffer.from([b])));
  return { whole, split };
}

describe("telnet decoder, QEMU mode", () => {
  it("strips QEMU's opening and passes a bare 0xFF from the guest through as data", () => {
    const stream = [...QEMU_OPENING, 0x41, 0xff, 0x42, 0xff, 0xff, 0x0d, 0x0a];
    for (const events of Object.values(decodeBothWays("qemu", stream))) {
      assert.deepEqual([...dataOf(events)], [0x41, 0xff, 0x42, 0xff, 0xff, 0x0d, 0x0a]);
      const negotiations = events.filter((e) => e.type === "negotiation");
      assert.equal(negotiations.length, 4);
    }
  });

  it("passes data after the opening without copying it", () => {
    const decoder = new TelnetDecoder("qemu");
    decoder.decode(Buffer.from(QEMU_OPENING));
    const chunk = Buffer.from([1, 2, 0xff, 0xf3, 4]);
    const events = decoder.decode(chunk);
    assert.equal(events.length, 1);
    assert.equal(events[0]?.type === "data" && events[0].bytes, chunk);
  });

  it("treats guest data that arrives before a full opening as the end of the opening", () => {
    const events = new TelnetDecoder("qemu").decode(Buffer.from([0xff, 0xfb, 0x01, 0x48, 0xff, 0xfd, 0x00]));
    assert.deepEqual([...dataOf(events)], [0x48, 0xff, 0xfd, 0x00]);
  });
});

describe("telnet decoder, standard mode (RFC 854)", () => {
  it("un-doubles IAC IAC, reports commands, negotiations and subnegotiations, split anywhere", () => {
    const stream = [
      0x61, 0xff, 0xff, 0x62, 0xff, 0xf3, 0xff, 0xfb, 0x01, 0xff, 0xfa, 0x2c, 0x01, 0xff, 0xff, 0x02, 0xff,
      0xf0, 0x63,
    ];
    const { whole, split } = decodeBothWays("standard", stream);
    for (const events of [whole, split]) {
      assert.deepEqual([...dataOf(events)], [0x61, 0xff, 0x62, 0x63]);
      const rest = events.filter((e) => e.type !== "data");
      assert.deepEqual(rest, [
        { type: "command", command: 0xf3 },
        { type: "negotiation", verb: WILL, option: 1 },
        { type: "subnegotiation", option: 0x2c, payload: Buffer.from([0x01, 0xff, 0x02]) },
      ]);
    }
  });
});

describe("telnet decoder, standard mode, binary streams", () => {
  it("un-escapes a read full of IAC IAC in place, as one data event viewing the read's buffer", () => {
    const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i % 7 === 0 ? 0xff : i & 0xff)));
    const chunk = escapeData(data);
    const events = new TelnetDecoder("standard").decode(chunk);
    assert.equal(events.length, 1);
    const [event] = events;
    assert.ok(event?.type === "data");
    assert.deepEqual(event.bytes, data);
    assert.equal(event.bytes.buffer, chunk.buffer, "no copy: the decoded bytes are the read's own");
    assert.equal(event.bytes.byteOffset, chunk.byteOffset);
  });

  it("keeps data, commands and negotiations in order when decoding in place", () => {
    const chunk = Buffer.from([0x41, 0xff, 0xff, 0x42, 0xff, 0xf3, 0x43, 0xff, 0xff, 0xff, 0xfb, 0x01, 0x44]);
    const events = new TelnetDecoder("standard").decode(chunk);
    assert.deepEqual(
      events.map((e) => (e.type === "data" ? [...e.bytes] : e)),
      [
        [0x41, 0xff, 0x42],
        { type: "command", command: 0xf3 },
        [0x43, 0xff],
        { type: "negotiation", verb: WILL, option: 1 },
        [0x44],
      ],
    );
  });
});

describe("telnet encoder", () => {
  it("doubles 0xFF in data and leaves other bytes alone", () => {
    assert.deepEqual(
      [...escapeData(Buffer.from([0x00, 0xff, 0x41, 0xff, 0xff]))],
      [0x00, 0xff, 0xff, 0x41, 0xff, 0xff, 0xff, 0xff],
    );
    const plain = Buffer.from("hello");
    assert.equal(escapeData(plain), plain);
  });

  it("sends BREAK as IAC BRK", () => {
    assert.deepEqual([...BREAK_BYTES], [0xff, 0xf3]);
  });
});

describe("negotiation policy (standard mode)", () => {
  it("accepts BINARY, SGA and the server's ECHO once, refuses the rest, and never loops", () => {
    const policy = TelnetOptions.client();
    assert.deepEqual([...(policy.answer(WILL, 1) ?? [])], [0xff, DO, 1]);
    assert.equal(policy.answer(WILL, 1), null, "no answer to a repeated WILL");
    assert.deepEqual([...(policy.answer(WILL, 24) ?? [])], [0xff, DONT, 24]);
    assert.deepEqual([...(policy.answer(DO, 0) ?? [])], [0xff, WILL, 0]);
    assert.deepEqual([...(policy.answer(DO, 31) ?? [])], [0xff, WONT, 31]);
    assert.deepEqual([...(policy.answer(WONT, 1) ?? [])], [0xff, DONT, 1]);
    assert.equal(policy.answer(WONT, 1), null);
  });
});
