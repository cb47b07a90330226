import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  breakMessage,
  comPortMessage,
  lineSettingsMessages,
  parityCode,
  parityOfCode,
  stopBitsOfCode,
  stopSizeCode,
} from "../../../src/telnet/rfc2217.js";

describe("RFC 2217 messages", () => {
  it("frames a COM-PORT-OPTION command and doubles IAC in its value", () => {
    assert.deepEqual(
      [...comPortMessage(1, [0, 0, 0xff, 0x01])],
      [0xff, 0xfa, 44, 1, 0, 0, 0xff, 0xff, 0x01, 0xff, 0xf0],
    );
  });

  it("sends BREAK as SET-CONTROL 5 (on) and 6 (off)", () => {
    assert.deepEqual([...breakMessage(true)], [0xff, 0xfa, 44, 5, 5, 0xff, 0xf0]);
    assert.deepEqual([...breakMessage(false)], [0xff, 0xfa, 44, 5, 6, 0xff, 0xf0]);
  });

  it("encodes line settings: baud big-endian, data size, parity and stop size codes", () => {
    const bytes = lineSettingsMessages({ baudRate: 115_200, dataBits: 8, parity: "even", stopBits: 1.5 });
    assert.deepEqual(
      [...bytes],
      [
        ...[0xff, 0xfa, 44, 1, 0x00, 0x01, 0xc2, 0x00, 0xff, 0xf0],
        ...[0xff, 0xfa, 44, 2, 8, 0xff, 0xf0],
        ...[0xff, 0xfa, 44, 3, 3, 0xff, 0xf0],
        ...[0xff, 0xfa, 44, 4, 3, 0xff, 0xf0],
      ],
    );
  });

  it("reads a parity or stop size code back as the value the client encoded (one table, both ends)", () => {
    for (const parity of ["none", "odd", "even", "mark", "space"] as const) {
      assert.equal(parityOfCode(parityCode(parity)), parity);
    }
    for (const stopBits of [1, 1.5, 2] as const)
      assert.equal(stopBitsOfCode(stopSizeCode(stopBits)), stopBits);
    assert.deepEqual(
      [parityOfCode(0), parityOfCode(6), stopBitsOfCode(0), stopBitsOfCode(4)],
      ["unknown", "unknown", 0, 0],
    );
  });
});
