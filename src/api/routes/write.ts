import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BridgeError } from "../../errors.js";
import { BODY_ERRORS, PORT_ERRORS, PortParams, QUEUE_OR_RATE, errorsOf } from "../schemas/common.js";
import { WriteBody, WriteResponse } from "../schemas/write.js";

const MAX_WRITE_BYTES = 64 * 1024;
/** How long a write may wait for the line before 429 QUEUE_FULL (the body's timeoutMs). */
const DEFAULT_WRITE_START_MS = 5000;

export const writeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    "/ports/:id/write",
    {
      bodyLimit: 128 * 1024,
      config: { access: "operate", audit: "write" },
      schema: {
        summary: "Type on the console",
        description:
          "Sends data (UTF-8 text) or base64 (raw bytes), at most 64 KiB, to the console. Needs the writer lease " +
          "when someone holds it; refused within 5 s of a BREAK (the first byte would run as a SysRq key).",
        tags: ["console"],
        params: PortParams,
        body: WriteBody,
        response: {
          200: WriteResponse,
          ...errorsOf([...PORT_ERRORS, ...BODY_ERRORS, 409, 503, 504], {
            409: "another client holds the writer lease (LEASE_HELD), or a BREAK left SysRq armed (SYSRQ_ARMED)",
            429: QUEUE_OR_RATE,
          }),
        },
      },
    },
    async (request) => {
      const port = app.ports.get(request.params.id);
      const body = request.body;
      const bytes = "data" in body ? Buffer.from(body.data, "utf8") : Buffer.from(body.base64, "base64");
      if (bytes.length > MAX_WRITE_BYTES) {
        throw new BridgeError(
          "VALIDATION",
          `at most ${MAX_WRITE_BYTES} bytes per write; this was ${bytes.length}`,
        );
      }
      // The data itself is never logged: it may hold passwords.
      request.auditDetail = { bytes: bytes.length };
      // Free, or held by this caller's lease: the write goes ahead. Held by someone else: 409.
      port.lease.check(body.leaseId);
      const written = await port.write(bytes, body.timeoutMs ?? DEFAULT_WRITE_START_MS);
      return { port: port.id, ...written };
    },
  );
};
