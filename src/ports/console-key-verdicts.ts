/**
 * A console door's SysRq keys (the byte after a client's own BREAK) and their audit: each key's record
 * is written when the kernel's verdict settles (key, sysrqAction, verdict), a refused key's at once. The
 * door waits for them before its closing record, so a session never closes with a key unrecorded.
 */
import { BridgeError } from "../errors.js";
import type { KeyResult } from "../sysrq/result.js";
import type { ConsoleInput } from "./console-access.js";

/** Writes one `console-sysrq` audit record with these details (the door adds who and where). */
export type KeyAuditWriter = (detail: Record<string, unknown>) => Promise<void>;

export class ConsoleKeyVerdicts {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly write: KeyAuditWriter) {}

  /** Audits the key `input` sent, once its verdict settles. */
  track(input: ConsoleInput): void {
    const sysrq = input.sysrq;
    if (sysrq === null) return;
    const done = sysrq.result
      .then(
        (result) => this.write(verdictDetail(result)),
        (err: unknown) =>
          this.write({ key: sysrq.key, verdict: "no-response", reason: (err as Error).message }),
      )
      .catch(() => undefined); // the writer logs its own failures
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  /** Audits a key the guard refused (role, sysrqMask); false when `err` was not about a key. */
  async refused(err: unknown): Promise<boolean> {
    const key = err instanceof BridgeError ? err.details?.["key"] : undefined;
    if (!(err instanceof BridgeError) || typeof key !== "string") return false;
    await this.write({ key, verdict: "refused", status: err.statusCode, code: err.code });
    return true;
  }

  /** Resolves once every tracked key has been audited. */
  async settled(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}

function verdictDetail(result: KeyResult): Record<string, unknown> {
  return {
    key: result.key,
    sysrqAction: result.action ?? null,
    verdict: result.verdict,
    latencyMs: result.latencyMs ?? null,
    ...(result.after ? { after: result.after.event } : {}),
  };
}
