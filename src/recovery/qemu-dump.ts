/**
 * The `qemu-dump` ladder step: the guest's memory written by QEMU into the incident's dump file
 * (kdump-compressed) before any reset, the post-mortem a reset would erase. Needs the port's `qmp`.
 */
import { qmpDump } from "../control/qmp-dump.js";
import type { Port } from "../ports/port.js";

/** `timeoutMs`: the step's (config default 120 s): past it the step fails and the ladder goes on. */
export async function dumpStep(
  port: Port,
  file: string | null,
  timeoutMs: number,
): Promise<{ verdict: string; output: string[]; status: number }> {
  if (port.qmp === null)
    return { verdict: "unsupported", output: ["the port has no qmp: nothing can dump"], status: 409 };
  if (file === null)
    return { verdict: "unsupported", output: ["incidents are not kept on disk"], status: 409 };
  try {
    const outcome = await qmpDump(port.qmp, file, timeoutMs);
    if (outcome.status === "completed")
      return { verdict: "done", output: [`${file} (${outcome.bytes} bytes of guest memory)`], status: 200 };
    return { verdict: "failed", output: [outcome.reason], status: 502 };
  } catch (err) {
    return { verdict: "failed", output: [`QMP: ${(err as Error).message}`], status: 502 };
  }
}
