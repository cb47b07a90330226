/** Random and hostile telnet / RFC 2217 option streams for the fuzz tests (unit and e2e). */
import { COM_PORT_OPTION } from "../../src/telnet/rfc2217.js";
import { DO, DONT, IAC, SB, SE, WILL, WONT } from "../../src/telnet/codec.js";
import type { Random } from "./random.js";

/** A stream weighted toward what breaks decoders: IACs, negotiations, SB with and without SE. */
export function hostileStream(r: Random, max: number): Buffer {
  const parts: number[] = [];
  const pieces = 1 + r.int(40);
  for (let p = 0; p < pieces; p += 1) {
    switch (r.int(9)) {
      case 0:
        for (let i = r.int(50); i > 0; i -= 1) parts.push(r.int(256));
        break;
      case 1:
        parts.push(IAC, r.pick([WILL, WONT, DO, DONT]), r.int(256));
        break;
      case 2:
        parts.push(IAC, r.int(256)); // any command, IAC IAC included
        break;
      case 3: {
        // RFC 2217 COM-PORT-OPTION with a wrong length: 0 to 9 value bytes, any command
        parts.push(IAC, SB, COM_PORT_OPTION);
        for (let i = r.int(10); i > 0; i -= 1) parts.push(r.int(256));
        parts.push(IAC, SE);
        break;
      }
      case 4: {
        // a subnegotiation around the bound, ended or not, with doubled IACs in it
        parts.push(IAC, SB, r.int(256));
        const length = max - 3 + r.int(6);
        for (let i = 0; i < length; i += 1) {
          if (r.int(50) === 0) parts.push(IAC, IAC);
          else parts.push(0x41);
        }
        if (r.int(2) === 0) parts.push(IAC, SE);
        break;
      }
      case 5:
        parts.push(IAC, SB); // SB at the very end, or followed by anything
        break;
      case 6:
        parts.push(IAC, SB, r.int(256), IAC, r.int(256)); // ended by a command other than SE
        break;
      case 7:
        parts.push(IAC);
        break;
      default:
        parts.push(...Buffer.from("login: "));
    }
  }
  return Buffer.from(parts);
}
