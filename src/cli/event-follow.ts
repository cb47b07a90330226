/**
 * Follows GET /events for the CLI's follows (`recover`, `incidents -f`): SSE frames parsed as they
 * arrive; a dropped stream is opened again with Last-Event-ID after a bounded backoff, so nothing is
 * lost. A refusal (401, 429 TOO_MANY_STREAMS, ...) is the CliError of any other request.
 */
import { CliError, type ApiClient } from "./api-client.js";

export interface SseEvent {
  readonly id: string;
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** The first retry after a drop; doubled up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;
/** A daemon unreachable this long is given up on: the CONNECT error (exit 7), as for any request. */
const GIVE_UP_MS = 30_000;
/** A frame longer than this is none the daemon sends: the stream is dropped and resumed. */
const FRAME_MAX_CHARS = 256 * 1024;

/** Splits text into complete frames and the unfinished rest. */
export function parseFrames(text: string): { events: SseEvent[]; rest: string } {
  const blocks = text.replace(/\r\n?/g, "\n").split("\n\n");
  const rest = blocks.pop() ?? "";
  const events: SseEvent[] = [];
  for (const block of blocks) {
    let id = "";
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue; // comments: the heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (data.length === 0) continue;
    try {
      const parsed = JSON.parse(data.join("\n")) as unknown;
      if (typeof parsed === "object" && parsed !== null)
        events.push({ id, event, data: parsed as Record<string, unknown> });
    } catch {
      // not JSON: no frame this daemon sends
    }
  }
  return { events, rest };
}

export interface FollowHandlers {
  /**
   * The stream is open; `fresh`: nothing is known to have been kept since the last read (the first
   * open, or after a `missed` event), so re-read what matters. True ends the follow.
   */
  synced(fresh: boolean, signal: AbortSignal): Promise<boolean>;
  /** Each event; true ends the follow. */
  event(event: SseEvent, signal: AbortSignal): Promise<boolean>;
}

/** Follows the events until a handler says done or `signal` aborts. */
export async function followEvents(
  client: ApiClient,
  signal: AbortSignal,
  handlers: FollowHandlers,
): Promise<void> {
  let lastId: string | null = null;
  let retryMs = RETRY_FIRST_MS;
  let unreachableSince: number | null = null;
  while (!signal.aborted) {
    try {
      const response = await client.events(lastId, signal);
      unreachableSince = null;
      try {
        if (await handlers.synced(lastId === null, signal)) return;
        retryMs = RETRY_FIRST_MS;
        let pending = "";
        const decoder = new TextDecoder();
        for await (const chunk of response.body ?? []) {
          pending += decoder.decode(chunk as Uint8Array, { stream: true });
          const { events, rest } = parseFrames(pending);
          pending = rest;
          if (pending.length > FRAME_MAX_CHARS) break;
          for (const event of events) {
            if (event.id !== "") lastId = event.id;
            // `missed`: what happened meanwhile is gone from the daemon's ring: read it again.
            const done =
              event.event === "missed"
                ? await handlers.synced(true, signal)
                : await handlers.event(event, signal);
            if (done) return;
          }
        }
      } finally {
        await response.body?.cancel().catch(() => undefined);
      }
    } catch (err) {
      if (signal.aborted) return;
      // Refused by the daemon: said as any request's error. The connection lost (the stream's, or a
      // read's while it dropped): resumed below.
      if (!dropped(err)) throw err;
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > GIVE_UP_MS) throw err;
    }
    if (signal.aborted) return;
    await pause(retryMs, signal);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }
}

function dropped(err: unknown): boolean {
  if (err instanceof CliError) return err.code === "CONNECT";
  return err instanceof TypeError || (err as { name?: string }).name === "AbortError";
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
