/** Picks how a port delivers an NMI: QMP inject-nmi, a Redfish BMC or an IPMI BMC's `chassis power diag`, as its config says. */
import type { PortConfig } from "../config/types.js";
import { describeBmc, runIpmitool } from "./ipmitool.js";
import type { QmpClient } from "./qmp.js";
import type { RedfishClient } from "./redfish.js";

export interface NmiMethod {
  readonly method: "qmp" | "redfish" | "ipmi";
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
  if (config.nmi?.kind === "ipmi") {
    const bmc = config.nmi;
    return {
      method: "ipmi",
      where: `IPMI chassis power diag at ${describeBmc(bmc)}`,
      inject: () => runIpmitool(bmc, ["chassis", "power", "diag"]).then(() => undefined),
    };
  }
  return null;
}
