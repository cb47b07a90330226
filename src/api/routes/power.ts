import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BridgeError } from "../../errors.js";
import { probePort } from "../../recovery/probe.js";
import { runPower } from "../../recovery/power.js";
import { BODY_ERRORS, PORT_ERRORS, PortParams, QUEUE_OR_RATE, errorsOf } from "../schemas/common.js";
import { PowerBody, PowerResponse, ProbeBody, ProbeResponse } from "../schemas/power.js";
import { emptyBodyIsDefaults } from "../validation.js";

function shuttingDown(port: string, action: string, cause?: unknown): BridgeError {
  return new BridgeError(
    "SHUTTING_DOWN",
    `port ${port}: power ${action} was cut short: the daemon is stopping; whether it took effect is unknown`,
    cause === undefined ? undefined : { cause },
  );
}

export const powerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/power",
    {
      config: { access: "admin", audit: "power" },
      schema: {
        summary: "Power the target on, off, or cycle / reset it",
        description:
          "Admin only. Runs the action through the port's power channel (QMP, a command, pdudaemon, Redfish or IPMI) and " +
          "answers when the " +
          "verdict is known: done for on / cycle / reset means a boot banner (Linux version, SeaBIOS, U-Boot) came " +
          "on the console afterwards; off is done when QEMU reports the VM paused, the BMC reports PowerState Off, " +
          "or the command ran / pdudaemon took the job (neither can report the state).",
        tags: ["power"],
        params: PortParams,
        body: PowerBody,
        response: {
          200: PowerResponse,
          ...errorsOf([...PORT_ERRORS, ...BODY_ERRORS, 409, 502, 503], {
            409:
              "the port has no power channel, or none for this action, or the BMC does not offer its ResetType " +
              "(POWER_UNSUPPORTED; nothing sent), or one is running (POWER_BUSY)",
            429: "too many requests from this token or address (RATE_LIMITED); see Retry-After",
            502: "the power channel refused or failed (POWER_FAILED); `evidence` has what it did and printed",
            503: "the daemon began stopping while the action ran (SHUTTING_DOWN): it was cut short, its effect unknown",
          }),
        },
      },
    },
    async (request) => {
      const { action, timeoutMs = 120_000 } = request.body;
      // `action` is the audit record's own key (power): the requested one goes beside it.
      request.auditDetail = { power: action };
      const port = app.ports.get(request.params.id);
      // Shutdown cuts the action short (a command's process group is killed) rather than wait it out.
      const result = await runPower(port, action, timeoutMs, app.closing).catch((err: unknown) => {
        throw app.closing.aborted ? shuttingDown(port.id, action, err) : err;
      });
      if (app.closing.aborted && result.verdict !== "done") throw shuttingDown(port.id, action);
      request.auditDetail = { power: action, verdict: result.verdict };
      return result;
    },
  );

  app.post(
    "/ports/:id/probe",
    {
      config: { access: "operate", audit: "probe" },
      preValidation: emptyBodyIsDefaults,
      schema: {
        summary: "Probe how alive the target is",
        description:
          "BREAK + h (the kernel's HELP answers from interrupt context), a CR and a prompt when the port sets " +
          "probe.userspace and no one holds the writer lease, and QMP query-status for ports with a qmp block. " +
          "A body is optional.",
        tags: ["power"],
        params: PortParams,
        body: ProbeBody,
        response: {
          200: ProbeResponse,
          ...errorsOf([...PORT_ERRORS, ...BODY_ERRORS, 503], { 429: QUEUE_OR_RATE }),
        },
      },
    },
    async (request) => {
      const port = app.ports.get(request.params.id);
      const result = await probePort(port, request.body?.probeMs ?? 2000);
      request.auditDetail = {
        kernel: result.kernel,
        userspace: result.userspace,
        ...(result.vm ? { vm: result.vm } : {}),
      };
      return result;
    },
  );
};
