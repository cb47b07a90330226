/**
 * POST /reload: re-reads the config file and applies it as a whole or not at all (SIGHUP does the
 * same). 400 CONFIG_INVALID lists every problem as `{ path, message }`; the old config keeps running.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { configProblems } from "../../config/reload-plan.js";
import { BridgeError } from "../../errors.js";
import { AUTH_ERRORS, errorsOf } from "../schemas/common.js";
import { ReloadResponse } from "../schemas/reload.js";

export const reloadRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/reload",
    {
      config: { access: "admin", audit: "reload" },
      schema: {
        summary: "Re-read the config file and apply it",
        description:
          "As SIGHUP: ports added, removed or changed, auth, rateLimit, log.level and retainLines apply live; " +
          "consoles whose config did not change are not touched. All or nothing: an invalid config, a change " +
          "to listen, captureDir, lockDir, capture or audit, or an export listener that cannot bind leaves " +
          "the old config running. Admin only; audited either way.",
        tags: ["meta"],
        response: {
          200: ReloadResponse,
          ...errorsOf([400, ...AUTH_ERRORS, 503], {
            400: "the new config is refused (CONFIG_INVALID); errors lists each problem as { path, message }",
            503: "the audit log cannot be written (AUDIT_UNAVAILABLE); nothing was reloaded",
          }),
        },
      },
    },
    async (request) => {
      try {
        const result = await app.reloadConfig();
        request.auditDetail = {
          added: result.added,
          removed: result.removed,
          changed: result.changed,
          unchanged: result.unchanged.length,
        };
        return {
          added: [...result.added],
          removed: [...result.removed],
          changed: [...result.changed],
          unchanged: [...result.unchanged],
        };
      } catch (err) {
        if (!(err instanceof BridgeError) || err.code !== "CONFIG_INVALID") throw err;
        const errors = configProblems(err);
        request.auditDetail = { errors };
        throw new BridgeError("CONFIG_INVALID", `the config was not applied: ${err.message}`, {
          details: { errors },
        });
      }
    },
  );
};
