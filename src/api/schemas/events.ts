/** GET /events: Server-Sent Events (the body is a stream; the frames are in docs/http-api.md). */
import Type from "typebox";

/** Sent as text/event-stream by the route itself (hijacked): never serialised. */
export const EventStreamBody = Type.Unsafe<string>({
  type: "string",
  description:
    "text/event-stream: `id: <run>-<seq>`, `event: <name>`, `data: <JSON>` per event; `: heartbeat` comment lines",
});
