/** POST /ports/:id/recover and DELETE /ports/:id/quarantine. */
import Type from "typebox";
import { IncidentSchema } from "./incidents.js";

/** No fields yet: a body, if sent, must be `{}` (an unknown field is a 400 that starts nothing). */
export const RecoverBody = Type.Object({}, { additionalProperties: false });

export const RecoverResponse = Type.Object({ incident: IncidentSchema });

export const QuarantineResponse = Type.Object({
  lifted: Type.Boolean({ description: "false: the port was not quarantined" }),
  health: Type.Union([Type.Literal("good"), Type.Literal("recovering"), Type.Literal("bad")]),
});
