/**
 * The steps a port's ladder runs: its `recover.steps`, or the default Linux ladder built from what
 * the port can do (its sysrqMask, whether it has an NMI method and a power channel):
 *
 *   probe → w, l (t when the mask allows) → s, u → c (crashKernel) or NMI (if any) → b → power cycle
 *
 * The runner waits for `until` after each step that restarts the target (b, c, power, a command).
 */
import type { RecoverConfig, RecoverStep } from "../config/types.js";
import type { Port } from "../ports/port.js";
import { keyAllowedByMask } from "../sysrq/keys.js";

export function ladderSteps(port: Port, recover: RecoverConfig): readonly RecoverStep[] {
  if (recover.steps !== null) return recover.steps;
  const mask = port.config.sysrqMask;
  const steps: RecoverStep[] = [{ kind: "probe" }, { kind: "sysrq", keys: "wl" }];
  if (keyAllowedByMask("t", mask)) steps.push({ kind: "sysrq", keys: "t" });
  steps.push({ kind: "sysrq", keys: "su" });
  if (recover.crashKernel) steps.push({ kind: "sysrq", keys: "c" });
  else if (port.config.nmi !== undefined) steps.push({ kind: "nmi" });
  steps.push({ kind: "sysrq", keys: "b" });
  if (port.powerChannel?.actions.includes("cycle")) steps.push({ kind: "power", action: "cycle" });
  return steps;
}

/** Keys after which the target is restarting: its `until` line is awaited. */
export const RESTARTING_KEYS: ReadonlySet<string> = new Set(["b", "c"]);

/** A step that restarts the target out of band (what "a power step follows" counts). */
export function isOutOfBand(step: RecoverStep): boolean {
  return step.kind === "power" || step.kind === "command";
}

/** How a step reads in the incident's `steps`. */
export function stepName(step: RecoverStep, key?: string): string {
  switch (step.kind) {
    case "sysrq":
      return `sysrq ${key ?? step.keys}`;
    case "nmi":
      return "nmi";
    case "probe":
      return "probe";
    case "qemu-dump":
      return "qemu-dump";
    case "wait":
      return `wait ${step.match}`;
    case "power":
      return `power ${step.action}`;
    case "command":
      return `command ${step.argv.join(" ")}`;
  }
}

/** GET /ports' `capabilities.recover`: whether a ladder is configured, its steps and what starts it. */
export function recoverCapability(
  port: Port,
): { configured: false } | { configured: true; steps: string[]; on: string[] } {
  const recover = port.config.recover;
  if (recover === undefined) return { configured: false };
  return {
    configured: true,
    steps: ladderSteps(port, recover).map((step) => stepName(step)),
    on: [...recover.on],
  };
}
