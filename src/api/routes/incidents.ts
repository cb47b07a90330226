import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { mayUsePort } from "../auth/principal.js";
import { principalOf } from "../auth/install-auth.js";
import { BridgeError } from "../../errors.js";
import { AUTH_ERRORS, errorsOf } from "../schemas/common.js";
import {
  IncidentDump,
  IncidentListResponse,
  IncidentParams,
  IncidentQuery,
  IncidentSchema,
} from "../schemas/incidents.js";

export const incidentRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/incidents",
    {
      config: { access: "read" },
      schema: {
        summary: "List incidents",
        description:
          "Crashes and hangs the watcher found on the ports the token may use, oldest first (newest last). Record `next` before a test and pass it as `since` afterwards to see only what the test caused.",
        tags: ["incidents"],
        querystring: IncidentQuery,
        response: { 200: IncidentListResponse, ...errorsOf([400, ...AUTH_ERRORS]) },
      },
    },
    (request) => {
      const { port, since, state, limit } = request.query;
      return app.incidents.list({
        ...(port === undefined ? {} : { port }),
        ...(since === undefined ? {} : { since }),
        ...(state === undefined ? {} : { state }),
        ...(limit === undefined ? {} : { limit }),
        ports: principalOf(request).ports,
      });
    },
  );

  app.get(
    "/incidents/:id",
    {
      config: { access: "read" },
      schema: {
        summary: "Read an incident",
        description: "One incident with its report, the lines before it, and its capture offsets.",
        tags: ["incidents"],
        params: IncidentParams,
        response: {
          200: IncidentSchema,
          ...errorsOf([400, 404, ...AUTH_ERRORS], {
            404: "no incident with this id is kept (INCIDENT_NOT_FOUND)",
          }),
        },
      },
    },
    (request) => {
      const incident = app.incidents.get(request.params.id);
      // A port-scoped token learns nothing of other ports' incidents, not even that they exist.
      if (!mayUsePort(principalOf(request), incident.port))
        throw new BridgeError(
          "INCIDENT_NOT_FOUND",
          `no incident "${request.params.id}" is kept; GET /incidents lists them`,
        );
      return incident;
    },
  );

  app.get(
    "/incidents/:id/dump",
    {
      config: { access: "admin" },
      schema: {
        summary: "Download an incident's memory dump",
        description:
          "The guest memory dump a `qemu-dump` ladder step had QEMU write (kdump-compressed, application/octet-stream): guest memory may hold secrets, so admin only.",
        tags: ["incidents"],
        params: IncidentParams,
        response: {
          200: IncidentDump,
          ...errorsOf([400, 404, ...AUTH_ERRORS], {
            404: "no such incident, or it has no dump (INCIDENT_NOT_FOUND, DUMP_NOT_FOUND)",
          }),
        },
      },
    },
    async (request, reply) => {
      const incident = app.incidents.get(request.params.id);
      if (!mayUsePort(principalOf(request), incident.port))
        throw new BridgeError(
          "INCIDENT_NOT_FOUND",
          `no incident "${request.params.id}" is kept; GET /incidents lists them`,
        );
      const file = app.incidents.dumpFile(incident.id);
      const info = file === null ? null : await stat(file).catch(() => null);
      if (file === null || info === null || !info.isFile())
        throw new BridgeError(
          "DUMP_NOT_FOUND",
          `incident ${incident.id} has no memory dump (a qemu-dump step of its ladder writes one)`,
        );
      return reply
        .header("content-type", "application/octet-stream")
        .header("content-length", String(info.size))
        .header("content-disposition", `attachment; filename="incident-${incident.id}.kdump"`)
        .send(createReadStream(file));
    },
  );
};
