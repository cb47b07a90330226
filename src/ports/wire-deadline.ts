/**
 * Bounds a wire call (a BREAK, a key, console input): a call that takes longer than WIRE_DEADLINE_MS
 * plus its own allowance (a BREAK's hold, the bytes' time on the line) counts as stuck, and the link
 * that made it is reset. One promise and one timer per call: this is on the path of every SysRq key.
 */
import { BridgeError } from "../errors.js";

/** A wire call that takes longer than this (plus any BREAK hold) counts as stuck. */
export const WIRE_DEADLINE_MS = 2000;

export interface WireCall {
  /** What the call does, for the error: "BREAK", "key write". */
  readonly what: string;
  readonly portId: string;
  /** Added to WIRE_DEADLINE_MS. */
  readonly extraMs: number;
  /** Resets the link when the call is stuck; the error follows once it is done. */
  readonly reset: (reason: string) => Promise<void>;
}

/**
 * The operation's outcome, unless the deadline passes first: then the link is reset and WIRE_TIMEOUT
 * is the outcome. A failure becomes PORT_UNAVAILABLE, naming what failed.
 */
export function withDeadline<T>(operation: Promise<T>, call: WireCall): Promise<T> {
  const limitMs = WIRE_DEADLINE_MS + call.extraMs;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const err = new BridgeError(
        "WIRE_TIMEOUT",
        `${call.what} on port ${call.portId} did not complete within ${limitMs} ms; the link was reset`,
      );
      const fail = (): void => reject(err);
      call.reset(err.message).then(fail, fail);
    }, limitMs);
    operation.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(
          err instanceof BridgeError
            ? err
            : new BridgeError(
                "PORT_UNAVAILABLE",
                `${call.what} on port ${call.portId} failed: ${(err as Error).message}`,
                {
                  cause: err,
                },
              ),
        );
      },
    );
  });
}
