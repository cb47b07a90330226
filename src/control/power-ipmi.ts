/**
 * Power through a BMC over IPMI (control/ipmitool.ts): `chassis power on|off|cycle|reset`. The BMC's
 * "Chassis Power Control: Cycle" says it took the request, not that the machine came back: the
 * verdict comes from the console. A completion code that says the BMC does not do the action (0xCC
 * from a BMC with no power control) is POWER_UNSUPPORTED naming the code.
 */
import type { IpmiConfig } from "../config/types.js";
import { IpmiError, describeBmc, runIpmitool } from "./ipmitool.js";
import { PowerChannelError, type PowerAction, type PowerChannel, type PowerRun } from "./power-channel.js";

export function ipmiPowerChannel(config: IpmiConfig): PowerChannel {
  return {
    kind: "ipmi",
    where: `IPMI chassis power at ${describeBmc(config)}`,
    actions: ["on", "off", "cycle", "reset"],
    run: (action, how) => runIpmiPower(config, action, how ?? {}),
  };
}

async function runIpmiPower(config: IpmiConfig, action: PowerAction, how: PowerRun) {
  const args = ["chassis", "power", action];
  const step = `ipmitool ${args.join(" ")}`;
  how.sending?.();
  try {
    const run = await runIpmitool(config, args, how.signal);
    return { steps: [step], exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr };
  } catch (err) {
    if (!(err instanceof IpmiError)) throw err;
    throw new PowerChannelError(
      err.message,
      { steps: [step], ...err.output },
      { cause: err, unsupported: err.kind === "unsupported" },
    );
  }
}
