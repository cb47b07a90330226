/**
 * Power through a program (LAVA's power_on_command / hard_reset_command convention: `ipmitool chassis
 * power cycle`, a USB relay, `virsh reset`): execFile with no shell, a deadline, and only the first
 * COMMAND_OUTPUT_LIMIT bytes of each stream kept, for the evidence. Exit status 0 = the command ran.
 */
import { spawn } from "node:child_process";
import type { CommandPowerConfig } from "../config/types.js";
import {
  type PowerRun,
  PowerChannelError,
  type PowerAction,
  type PowerChannel,
  type PowerOutcome,
} from "./power-channel.js";
import { BoundedOutput, killGroup } from "../child-process.js";

export const COMMAND_OUTPUT_LIMIT = 8192;

export function commandPowerChannel(config: CommandPowerConfig): PowerChannel {
  const actions = (["on", "off", "cycle", "reset"] as const).filter((a) => config[a] !== undefined);
  return {
    kind: "command",
    where: `command ${actions.map((a) => `${a}: ${config[a]?.[0] ?? ""}`).join(", ")}`,
    actions,
    run: (action, how) => runCommand(config, action, how ?? {}),
  };
}

function runCommand(
  config: CommandPowerConfig,
  action: PowerAction,
  { sending, signal }: PowerRun,
): Promise<PowerOutcome> {
  const argv = config[action];
  if (!argv) {
    return Promise.reject(
      new PowerChannelError(`this port's power command channel has no \`${action}\` command`, { steps: [] }),
    );
  }
  const [file, ...args] = argv as [string, ...string[]];
  const step = argv.join(" ");
  if (signal?.aborted) {
    return Promise.reject(new PowerChannelError(`not run: ${abortReason}`, { steps: [] }));
  }
  return new Promise((resolve, reject) => {
    const out = new BoundedOutput(COMMAND_OUTPUT_LIMIT);
    const err = new BoundedOutput(COMMAND_OUTPUT_LIMIT);
    sending?.();
    // detached: a deadline kills the whole process group, not only the first process.
    const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    child.stdout.on("data", (chunk: Buffer) => out.add(chunk));
    child.stderr.on("data", (chunk: Buffer) => err.add(chunk));
    let timedOut = false;
    let aborted = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, config.timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      killGroup(child.pid);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const outcome = (exitCode?: number): PowerOutcome => ({
      steps: [step],
      ...(exitCode === undefined ? {} : { exitCode }),
      stdout: out.text(),
      stderr: err.text(),
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      reject(new PowerChannelError(`cannot run ${file}: ${e.message}`, outcome(), { cause: e }));
    });
    child.once("close", (code, killedBy) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (aborted) {
        reject(new PowerChannelError(`${file} killed: ${abortReason}`, outcome()));
      } else if (timedOut) {
        reject(
          new PowerChannelError(`${file} did not finish within ${config.timeoutMs} ms; killed`, outcome()),
        );
      } else if (code === 0) {
        resolve(outcome(0));
      } else {
        const how = code === null ? `was killed by ${killedBy ?? "a signal"}` : `exited with status ${code}`;
        reject(new PowerChannelError(`${file} ${how}`, outcome(code ?? undefined)));
      }
    });
  });
}

const abortReason = "the daemon is stopping";
