/**
 * A guest memory dump written by QEMU itself: QMP dump-guest-memory (kdump-compressed, zlib) detached,
 * then query-dump until it completes, fails or the deadline passes.
 *
 *   dump-guest-memory {protocol: "file:PATH", format: "kdump-zlib", detach} ──> query-dump ... completed
 */
import type { QmpClient } from "./qmp.js";

const POLL_MS = 200;

export type DumpOutcome =
  | { readonly status: "completed"; readonly bytes: number }
  | { readonly status: "failed" | "timeout"; readonly reason: string };

/** Dumps the guest's memory into `file` (a path QEMU can write) within `timeoutMs`. */
export async function qmpDump(qmp: QmpClient, file: string, timeoutMs: number): Promise<DumpOutcome> {
  const deadline = performance.now() + timeoutMs;
  await qmp.execute("dump-guest-memory", {
    paging: false,
    protocol: `file:${file}`,
    format: "kdump-zlib",
    detach: true,
  });
  for (;;) {
    const reply = (await qmp.execute("query-dump")) as {
      status?: string;
      completed?: number;
      total?: number;
    };
    if (reply.status === "completed") return { status: "completed", bytes: reply.total ?? 0 };
    if (reply.status === "failed" || reply.status === "none")
      return { status: "failed", reason: `query-dump: ${reply.status}` };
    if (performance.now() >= deadline)
      return {
        status: "timeout",
        reason: `not completed within ${timeoutMs} ms (${reply.completed ?? 0} of ${reply.total ?? 0} bytes)`,
      };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
