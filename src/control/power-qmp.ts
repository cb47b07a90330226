/**
 * Power through QEMU's QMP: off = stop (the VM pauses, its state kept), on = system_reset + cont,
 * cycle / reset = system_reset (+ cont when it was paused). Never quit: nothing could power the VM
 * on again, and with -no-reboot a system_reset also ends QEMU (guests for power tests run without it).
 */
import {
  PowerChannelError,
  type PowerAction,
  type PowerChannel,
  type PowerOutcome,
} from "./power-channel.js";
import type { QmpClient } from "./qmp.js";

export function qmpPowerChannel(qmp: QmpClient): PowerChannel {
  return {
    kind: "qmp",
    where: `QMP at ${qmp.describe()}`,
    actions: ["on", "off", "cycle", "reset"],
    run: (action, how) => {
      how?.sending?.();
      return runQmpPower(qmp, action, how?.signal);
    },
  };
}

async function runQmpPower(qmp: QmpClient, action: PowerAction, signal?: AbortSignal): Promise<PowerOutcome> {
  const steps: string[] = [];
  const step = async (command: string): Promise<unknown> => {
    // The daemon is stopping: no further command goes out (one already sent is bounded by QMP's own deadline).
    if (signal?.aborted)
      throw new PowerChannelError(`the daemon is stopping: QMP ${command} not sent`, { steps });
    steps.push(command);
    try {
      return await qmp.execute(command);
    } catch (err) {
      throw new PowerChannelError(
        `QMP ${command} failed: ${(err as Error).message}`,
        { steps },
        { cause: err },
      );
    }
  };
  switch (action) {
    case "off": {
      await step("stop");
      return { steps, status: await statusOf(step) };
    }
    case "on":
      await step("system_reset");
      await step("cont");
      return { steps, status: await statusOf(step) };
    case "cycle":
    case "reset": {
      const before = await statusOf(step);
      await step("system_reset");
      if (before !== "running") await step("cont");
      return { steps, status: await statusOf(step) };
    }
  }
}

async function statusOf(step: (command: string) => Promise<unknown>): Promise<string> {
  const reply = (await step("query-status")) as { status?: unknown };
  return typeof reply.status === "string" ? reply.status : "unknown";
}
