/**
 * GET /ports/:id/capture?offset=&length= : the raw bytes the target printed, read back from the
 * capture files across segment boundaries. Offsets are absolute in the port's stream (they never
 * renumber), so a reader resumes with offset = X-Capture-Offset + bytes received.
 *
 * Headers: X-Capture-Start (oldest retained byte), X-Capture-End (just past the newest byte on disk),
 * X-Capture-Offset (the body's first byte). An offset that rotation already deleted is a 410
 * CAPTURE_ROTATED (never silently moved forward); one past the end is a 416 CAPTURE_OFFSET_PAST_END.
 * One inside a span the disk did not take (full, read-only) is a 410 CAPTURE_LOST with that span's
 * `off` and `len`; a read reaching such a span ends where it begins.
 * The file names come from the configured port id, never from the URL.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { BridgeError } from "../../errors.js";
import { CaptureBytes, CaptureQuery } from "../schemas/capture.js";
import { PORT_ERRORS, PortParams, errorsOf } from "../schemas/common.js";

export const captureRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/ports/:id/capture",
    {
      config: { access: "read" },
      schema: {
        summary: "Read raw captured bytes",
        description:
          "The bytes the target printed, by absolute offset, across capture files (application/octet-stream). " +
          "X-Capture-Start, X-Capture-End and X-Capture-Offset say where the body sits.",
        tags: ["console"],
        params: PortParams,
        querystring: CaptureQuery,
        response: {
          200: CaptureBytes,
          ...errorsOf([...PORT_ERRORS, 410, 416]),
        },
      },
    },
    async (request, reply) => {
      const port = app.ports.get(request.params.id);
      const { offset, length = 1024 * 1024 } = request.query;
      const slice = await port.capture.read(offset, length);
      const bounds = { start: slice.start, end: slice.end };
      if (slice.lost) {
        const { off, len } = slice.lost;
        throw new BridgeError(
          "CAPTURE_LOST",
          `bytes ${off} to ${off + len} were lost (the disk refused them); ask from offset ${off + len}`,
          { details: { ...bounds, off, len } },
        );
      }
      if (slice.offset === null && offset !== undefined && offset < slice.start) {
        throw new BridgeError(
          "CAPTURE_ROTATED",
          `bytes before offset ${slice.start} were deleted by rotation (capture.maxTotalBytes); ask from offset ${slice.start}`,
          { details: bounds },
        );
      }
      if (slice.offset === null) {
        throw new BridgeError(
          "CAPTURE_OFFSET_PAST_END",
          `offset ${String(offset)} is past the end of the capture (${slice.end}); ask from at most ${slice.end}`,
          { details: bounds },
        );
      }
      return reply
        .header("content-type", "application/octet-stream")
        .header("x-capture-start", String(slice.start))
        .header("x-capture-end", String(slice.end))
        .header("x-capture-offset", String(slice.offset))
        .send(slice.data);
    },
  );
};
