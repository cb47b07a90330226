/**
 * The daemon side of the command (src/daemon/serve.ts), loaded when the daemon is asked for. From the
 * sources it is a plain import. The build replaces this module (scripts/build.ts, daemonSide): dist/
 * runs the daemon side from a bundle of its own through a V8 code cache (./code-cache.ts).
 */
import { tierUpForServing } from "./jit-tiering.js";
import type { serve } from "./serve.js";

export interface DaemonSide {
  readonly serve: typeof serve;
  /** Called once the daemon listens: what is only worth doing after start-up (see jit-tiering.ts). */
  started(): void;
}

export async function loadDaemonSide(): Promise<DaemonSide> {
  const { serve } = await import("./serve.js");
  return { serve, started: tierUpForServing };
}
