/**
 * Power through a BMC's Redfish ComputerSystem.Reset (the client NMIs use): on = On, off = ForceOff
 * (then PowerState is read until Off), cycle = PowerCycle, else ForceRestart; reset = ForceRestart, else
 * PowerCycle. A type the BMC does not list is refused before anything is sent.
 */
import type { RedfishConfig } from "../config/types.js";
import {
  PowerChannelError,
  type PowerAction,
  type PowerChannel,
  type PowerOutcome,
} from "./power-channel.js";
import { RedfishClient, RedfishError } from "./redfish.js";

/** The ResetTypes each action takes, in order of preference. */
export const RESET_TYPES: Readonly<Record<PowerAction, readonly string[]>> = {
  on: ["On"],
  off: ["ForceOff"],
  cycle: ["PowerCycle", "ForceRestart"],
  reset: ["ForceRestart", "PowerCycle"],
};

/** How long off waits for the BMC to report PowerState Off. */
const OFF_SETTLE_MS = 20_000;

export function redfishPowerChannel(config: RedfishConfig): PowerChannel {
  const client = new RedfishClient(config);
  return {
    kind: "redfish",
    where: `Redfish ComputerSystem.Reset at ${client.describe()}`,
    actions: ["on", "off", "cycle", "reset"],
    run: (action, how) => runRedfishPower(client, action, how?.sending),
  };
}

/** The first preferred type the BMC offers; a BMC that lists none gets the first that every BMC takes. */
export function chooseResetType(action: PowerAction, offered: readonly string[] | null): string | null {
  const preferred = RESET_TYPES[action];
  // ForceRestart is the one restart every Redfish BMC we know takes; PowerCycle is optional.
  if (offered === null) return action === "cycle" ? "ForceRestart" : (preferred[0] ?? null);
  return preferred.find((type) => offered.includes(type)) ?? null;
}

async function runRedfishPower(
  client: RedfishClient,
  action: PowerAction,
  sending: (() => void) | undefined,
): Promise<PowerOutcome> {
  try {
    const outcome = await client.reset(
      (offered) => {
        const type = chooseResetType(action, offered);
        if (type !== null) sending?.();
        return type;
      },
      RESET_TYPES[action].join(" or "),
      action === "off" ? { state: "Off", withinMs: OFF_SETTLE_MS } : undefined,
    );
    return {
      steps: outcome.steps,
      ...(outcome.powerState === undefined ? {} : { status: outcome.powerState }),
    };
  } catch (err) {
    if (!(err instanceof RedfishError)) throw err;
    throw new PowerChannelError(
      err.message,
      { steps: [] },
      { cause: err, unsupported: err.kind === "unsupported" },
    );
  }
}
