/** The one telnet option negotiation, as the transport (client) and the re-export servers use it. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DO,
  DONT,
  IAC,
  OPT_BINARY,
  OPT_ECHO,
  OPT_SGA,
  TelnetDecoder,
  WILL,
  WONT,
} from "../../../src/telnet/codec.js";
import { TelnetOptions } from "../../../src/telnet/options.js";
import { COM_PORT_OPTION } from "../../../src/telnet/rfc2217.js";

const OPT_TTYPE = 24;
const OPT_NAWS = 31;

function bytes(answer: Buffer | null): number[] | null {
  return answer === null ? null : [...answer];
}

/** Feeds each side's bytes to the other until both fall silent; the number of exchanges it took. */
function converse(
  a: TelnetOptions,
  b: TelnetOptions,
  fromA: Buffer,
  fromB: Buffer = Buffer.alloc(0),
): number {
  const decoderOfA = new TelnetDecoder("standard");
  const decoderOfB = new TelnetDecoder("standard");
  const answers = (decoder: TelnetDecoder, side: TelnetOptions, wire: Buffer): Buffer =>
    Buffer.concat(
      decoder.decode(Buffer.from(wire)).flatMap((e) => {
        if (e.type !== "negotiation") return [];
        const answer = side.answer(e.verb, e.option);
        return answer ? [answer] : [];
      }),
    );
  let [toB, toA] = [fromA, fromB];
  for (let round = 1; round <= 10; round += 1) {
    const nextToA = answers(decoderOfB, b, toB);
    const nextToB = answers(decoderOfA, a, toA);
    if (nextToA.length === 0 && nextToB.length === 0) return round;
    [toA, toB] = [nextToA, nextToB];
  }
  assert.fail("the two sides were still negotiating after 10 exchanges");
}

describe("telnet options, client side (the telnet / RFC 2217 transport)", () => {
  it("offers COM-PORT-OPTION; the server's DO needs no answer, DONT is acknowledged once", () => {
    const client = TelnetOptions.client([COM_PORT_OPTION]);
    assert.deepEqual([...client.offer(COM_PORT_OPTION)], [IAC, WILL, COM_PORT_OPTION]);
    assert.equal(client.answer(DO, COM_PORT_OPTION), null);
    assert.deepEqual(bytes(client.answer(DONT, COM_PORT_OPTION)), [IAC, WONT, COM_PORT_OPTION]);
    assert.equal(client.answer(DONT, COM_PORT_OPTION), null, "no answer to a repeated DONT");
    assert.deepEqual(bytes(client.answer(DO, COM_PORT_OPTION)), [IAC, WILL, COM_PORT_OPTION]);
  });

  it("without COM-PORT-OPTION among its options, refuses the server's DO of it", () => {
    const client = TelnetOptions.client();
    assert.deepEqual(bytes(client.answer(DO, COM_PORT_OPTION)), [IAC, WONT, COM_PORT_OPTION]);
    assert.deepEqual(bytes(client.answer(DO, OPT_ECHO)), [IAC, WONT, OPT_ECHO], "the client never echoes");
    assert.deepEqual(bytes(client.answer(DO, OPT_SGA)), [IAC, WILL, OPT_SGA]);
  });
});

describe("telnet options, server side (the re-export servers)", () => {
  it("the telnet server opens with WILL ECHO, SGA, BINARY; agreeing DOs need no answer", () => {
    const server = new TelnetOptions([OPT_ECHO, OPT_SGA, OPT_BINARY], [OPT_BINARY, OPT_SGA]);
    assert.deepEqual([...server.opening()], [IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA, IAC, WILL, OPT_BINARY]);
    assert.equal(server.answer(DO, OPT_ECHO), null);
    assert.equal(server.answer(DO, OPT_BINARY), null);
    assert.deepEqual(bytes(server.answer(WILL, OPT_NAWS)), [IAC, DONT, OPT_NAWS]);
    assert.deepEqual(bytes(server.answer(WILL, OPT_TTYPE)), [IAC, DONT, OPT_TTYPE]);
    assert.deepEqual(bytes(server.answer(DONT, OPT_ECHO)), [IAC, WONT, OPT_ECHO]);
    assert.equal(server.answer(DONT, OPT_ECHO), null);
  });

  it("the RFC 2217 server asks for BINARY and accepts the client's COM-PORT-OPTION once", () => {
    const server = new TelnetOptions([OPT_BINARY, OPT_SGA], [OPT_BINARY, OPT_SGA, COM_PORT_OPTION]);
    assert.deepEqual(
      [...server.opening([OPT_BINARY])],
      [IAC, WILL, OPT_BINARY, IAC, WILL, OPT_SGA, IAC, DO, OPT_BINARY],
    );
    assert.equal(server.answer(WILL, OPT_BINARY), null, "the DO was already sent");
    assert.deepEqual(bytes(server.answer(WILL, COM_PORT_OPTION)), [IAC, DO, COM_PORT_OPTION]);
    assert.equal(server.answer(WILL, COM_PORT_OPTION), null);
    assert.deepEqual(bytes(server.answer(DO, OPT_ECHO)), [IAC, WONT, OPT_ECHO]);
    assert.deepEqual(bytes(server.answer(WONT, COM_PORT_OPTION)), [IAC, DONT, COM_PORT_OPTION]);
    assert.equal(server.answer(WONT, COM_PORT_OPTION), null);
  });
});

describe("telnet options, both sides talking", () => {
  it("the RFC 2217 transport against the RFC 2217 server agrees in one round and falls silent", () => {
    const client = TelnetOptions.client([COM_PORT_OPTION]);
    const server = new TelnetOptions([OPT_BINARY, OPT_SGA], [OPT_BINARY, OPT_SGA, COM_PORT_OPTION]);
    const rounds = converse(client, server, client.offer(COM_PORT_OPTION), server.opening([OPT_BINARY]));
    assert.ok(rounds <= 3, `took ${rounds} exchanges`);
    // Everything is agreed: repeating any of it draws no answer from either side.
    assert.equal(server.answer(WILL, COM_PORT_OPTION), null);
    assert.equal(client.answer(DO, COM_PORT_OPTION), null);
    assert.equal(client.answer(WILL, OPT_BINARY), null);
    assert.equal(client.answer(DO, OPT_BINARY), null);
  });

  it("a client against the telnet server, and two servers against each other, never loop", () => {
    const telnetServer = (): TelnetOptions =>
      new TelnetOptions([OPT_ECHO, OPT_SGA, OPT_BINARY], [OPT_BINARY, OPT_SGA]);
    const client = TelnetOptions.client();
    const a = telnetServer();
    converse(a, client, a.opening());
    assert.equal(client.answer(WILL, OPT_ECHO), null, "the client took the server's ECHO");
    const [b, c] = [telnetServer(), telnetServer()];
    converse(b, c, b.opening(), c.opening());
  });
});
