/**
 * GET /events: the live events (recovery/events.ts) as Server-Sent Events. The hub keeps the ring, the
 * bounds and the limits; this route only writes each event as the socket takes it.
 *
 *   id: <run>-<seq>
 *   event: incident.opened | incident.updated | incident.closed | port.state | port.health | missed | cut
 *   data: {...}
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { ServerResponse } from "node:http";
import type { BridgeEvent, EventStream } from "../../recovery/events.js";
import { principalOf } from "../auth/install-auth.js";
import { AUTH_ERRORS, errorsOf } from "../schemas/common.js";
import { EventStreamBody } from "../schemas/events.js";

/** How long an ended stream's last event may take to reach a reader before its socket is destroyed. */
const END_GRACE_MS = 5_000;
/** The same during shutdown: a reader that does not read must not hold the daemon's exit. */
const SHUTDOWN_GRACE_MS = 1_000;

export function sseFrame(event: BridgeEvent): string {
  return `id: ${event.id}\nevent: ${event.name}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

export const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/events",
    {
      config: { access: "read" },
      schema: {
        summary: "Live events (Server-Sent Events)",
        description:
          "text/event-stream: incident.opened / incident.updated / incident.closed, port.state and port.health, of the ports the token may use. Send Last-Event-ID to resume; `missed` says the events after it are no longer kept, `cut` ends a stream (slow reader, shutdown).",
        tags: ["incidents"],
        response: {
          200: EventStreamBody,
          ...errorsOf([400, ...AUTH_ERRORS], {
            400: "Last-Event-ID is not an id this daemon sends (VALIDATION)",
            429: "too many event streams open for this token or the daemon (TOO_MANY_STREAMS), or too many requests (RATE_LIMITED)",
          }),
        },
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      const header = request.headers["last-event-id"];
      // Sent twice it is no one id: refused as malformed.
      const lastEventId = Array.isArray(header) ? header.join(",") : header;
      const stream = app.events.subscribe({
        key: app.tokens.enabled ? `token:${principal.name}` : `address:${request.ip}`,
        ports: principal.ports,
        ...(lastEventId === undefined ? {} : { lastEventId }),
      });
      await reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no", // nginx: pass each event on at once
        "x-request-id": request.id,
      });
      res.write(": sysrq-bridge events\n\n");
      const heartbeat = setInterval(() => {
        // Only on a socket that keeps up: a backed-up one needs no keep-alive and must not grow.
        if (res.writableLength === 0) res.write(": heartbeat\n\n");
      }, app.events.limits.heartbeatMs);
      const onClosing = (): void => stream.cut("shutdown", "the daemon is stopping");
      app.closing.addEventListener("abort", onClosing, { once: true });
      if (app.closing.aborted) onClosing();
      res.once("close", () => {
        clearInterval(heartbeat);
        app.closing.removeEventListener("abort", onClosing);
        stream.close();
      });
      void pump(stream, res, app.closing).catch((err: unknown) => {
        request.log.error({ err }, "events: the stream failed");
        res.destroy();
      });
    },
  );
};

/** Writes each event as the socket takes it; after the last, ends (and destroys a reader that never reads). */
async function pump(stream: EventStream, res: ServerResponse, closing: AbortSignal): Promise<void> {
  for (;;) {
    const event = await stream.next();
    if (event === null || res.destroyed) break;
    if (!res.write(sseFrame(event))) await drained(res, stream);
  }
  if (res.destroyed) return;
  res.end();
  setTimeout(() => res.destroy(), closing.aborted ? SHUTDOWN_GRACE_MS : END_GRACE_MS).unref();
}

/** The socket took what waits, or it closed, or the stream ended (its last event is then written). */
function drained(res: ServerResponse, stream: EventStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
    void stream.done.then(done);
  });
}
