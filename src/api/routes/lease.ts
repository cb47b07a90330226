/**
 * The writer lease over plain HTTP: POST takes it for a time to live (a harness that writes several
 * times in a row), DELETE releases it. Console and re-export connections take theirs on the socket.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BridgeError } from "../../errors.js";
import { principalOf } from "../auth/install-auth.js";
import { roleAtLeast } from "../../clients/roles.js";
import { leaseView } from "../console/protocol.js";
import { BODY_ERRORS, PORT_ERRORS, PortParams, errorsOf } from "../schemas/common.js";
import { LeaseBody, LeaseResponse, ReleaseBody, ReleaseResponse } from "../schemas/lease.js";
import { emptyBodyIsDefaults } from "../validation.js";

export const leaseRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/lease",
    {
      config: { access: "operate", audit: "lease-take" },
      preValidation: emptyBodyIsDefaults,
      schema: {
        summary: "Take the writer lease",
        description:
          "Makes this caller the console's one writer for ttlMs (a harness that writes several times). takeover: " +
          "admin only, takes it from its holder. A body is optional.",
        tags: ["console"],
        params: PortParams,
        body: LeaseBody,
        response: {
          200: LeaseResponse,
          ...errorsOf([...PORT_ERRORS, ...BODY_ERRORS, 409, 503], {
            409: "another client holds the lease (LEASE_HELD)",
            503: "the audit log cannot be written (AUDIT_UNAVAILABLE)",
          }),
        },
      },
    },
    async (request) => {
      const principal = principalOf(request);
      const takeover = request.body?.takeover === true;
      if (takeover && !roleAtLeast(principal.role, "admin")) {
        throw new BridgeError("FORBIDDEN", "taking over a lease needs the admin role", {
          details: { requiredRole: "admin", role: principal.role },
        });
      }
      const port = app.ports.get(request.params.id);
      const { lease, displaced } = port.lease.take({
        holder: principal.name,
        via: "http",
        ttlMs: request.body?.ttlMs ?? 60_000,
        ...(takeover ? { takeover } : {}),
      });
      request.auditDetail = displaced ? { takeover: true, displaced: displaced.holder } : {};
      const view = leaseView(lease);
      return {
        leaseId: lease.leaseId,
        holder: lease.holder,
        via: lease.via,
        expiresAt: view?.expiresAt ?? null,
      };
    },
  );

  app.delete(
    "/ports/:id/lease",
    {
      config: { access: "operate", audit: "lease-release" },
      schema: {
        summary: "Release the writer lease",
        description: "released: false when leaseId is not the current lease (expired, taken over).",
        tags: ["console"],
        params: PortParams,
        body: ReleaseBody,
        response: {
          200: ReleaseResponse,
          ...errorsOf([...PORT_ERRORS, ...BODY_ERRORS]),
        },
      },
    },
    async (request) => {
      const port = app.ports.get(request.params.id);
      const released = port.lease.release(request.body.leaseId);
      return { released };
    },
  );
};
