/**
 * ssh-style escapes for `sysrq-bridge console`: a `~` typed at the start of a line is held back and
 * the next key decides. `~.` leaves, `~B` sends a BREAK, `~?` lists the escapes, `~~` sends one `~`;
 * any other key sends the held `~` and itself. Pure: bytes in, events out, in order.
 */
export type EscapeEvent =
  | { readonly kind: "data"; readonly bytes: Buffer }
  | { readonly kind: "leave" }
  | { readonly kind: "break" }
  | { readonly kind: "help" };

export const ESCAPE_HELP =
  "Supported escapes:\n  ~.  leave\n  ~B  send a BREAK\n  ~?  this list\n  ~~  send ~\n";

const TILDE = 0x7e;
const CR = 0x0d;
const LF = 0x0a;

export class EscapeFilter {
  private atLineStart = true;
  private holdingTilde = false;

  feed(input: Buffer): EscapeEvent[] {
    const events: EscapeEvent[] = [];
    let pending: number[] = [];
    const flush = (): void => {
      if (pending.length > 0) events.push({ kind: "data", bytes: Buffer.from(pending) });
      pending = [];
    };
    for (const byte of input) {
      if (this.holdingTilde) {
        this.holdingTilde = false;
        if (byte === 0x2e /* . */) {
          flush();
          events.push({ kind: "leave" });
          return events;
        }
        if (byte === 0x42 /* B */ || byte === 0x3f /* ? */) {
          flush();
          events.push({ kind: byte === 0x42 ? "break" : "help" });
          this.atLineStart = true; // ssh lets escapes follow one another
          continue;
        }
        pending.push(TILDE);
        if (byte === TILDE) {
          this.atLineStart = false;
          continue;
        }
      } else if (byte === TILDE && this.atLineStart) {
        this.holdingTilde = true;
        continue;
      }
      pending.push(byte);
      this.atLineStart = byte === CR || byte === LF;
    }
    flush();
    return events;
  }
}
