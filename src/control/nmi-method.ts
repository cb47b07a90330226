/** Picks how a port delivers an NMI: QMP inject-nmi or a Redfish BMC, as its config says. */
import type { PortConfig } from "../config/types.js";
import type { QmpClient } from "./qmp.js";
import type { RedfishClient } from "./redfish.js";

export interface NmiMethod {
  readonly method: "qmp" | "redfish";
  /** For capabilities and messages: where the NMI goes. */
  readonly where: string;
  readonly inject: () => Promise<void>;
}

export function nmiMethodFor(
  config: PortConfig,
  qmp: QmpClient | null,
  redfish: RedfishClient | null,
): NmiMethod | null {
  if (config.nmi?.kind === "qmp" && qmp) {
    return {
      method: "qmp",
      where: `QMP inject-nmi at ${qmp.describe()}`,
      inject: () => qmp.execute("inject-nmi").then(() => undefined),
    };
  }
  if (config.nmi?.kind === "redfish" && redfish) {
    return {
      method: "redfish",
      where: `Redfish ComputerSystem.Reset (Nmi) at ${redfish.describe()}`,
      inject: () => redfish.injectNmi(),
    };
  }
  return null;
}
