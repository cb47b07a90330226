/** POST /ports/:id/recover and DELETE /ports/:id/quarantine. */
import Type from "typebox";
import { IncidentSchema } from "./incidents.js";

export const RecoverResponse = Type.Object({ incident: IncidentSchema });

export const QuarantineResponse = Type.Object({
  lifted: Type.Boolean({ description: "false: the port was not quarantined" }),
  health: Type.Union([Type.Literal("good"), Type.Literal("recovering"), Type.Literal("bad")]),
});
