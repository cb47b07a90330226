/** Picks a port's power channel from its config: QMP (the port's own connection), a command, pdudaemon, Redfish or IPMI. */
import type { PortConfig } from "../config/types.js";
import type { PowerChannel } from "./power-channel.js";
import { commandPowerChannel } from "./power-command.js";
import { ipmiPowerChannel } from "./power-ipmi.js";
import { pduDaemonPowerChannel } from "./power-pdudaemon.js";
import { qmpPowerChannel } from "./power-qmp.js";
import { redfishPowerChannel } from "./power-redfish.js";
import type { QmpClient } from "./qmp.js";

export function powerChannelFor(config: PortConfig, qmp: QmpClient | null): PowerChannel | null {
  const power = config.power;
  if (!power) return null;
  switch (power.kind) {
    case "qmp":
      return qmp ? qmpPowerChannel(qmp) : null;
    case "command":
      return commandPowerChannel(power);
    case "pdudaemon":
      return pduDaemonPowerChannel(power);
    case "redfish":
      return redfishPowerChannel(power);
    case "ipmi":
      return ipmiPowerChannel(power);
  }
}
