// @ts-check
/**
 * GET /events in the page: read with fetch() streaming, since EventSource cannot send the
 * Authorization header (and tokens never go in URLs). Frames are parsed here; a dropped stream is
 * resumed with Last-Event-ID after a bounded backoff; a refused one (429 TOO_MANY_STREAMS, 5xx) is
 * reported so the page can poll instead.
 */
import { ApiError, authHeaders, parseJson } from "./api.js";

/** @typedef {{ id: string, event: string, data: Record<string, unknown> }} SseEvent */

/** A stream cut or dropped is retried after this, doubling up to the cap. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;
/** A frame longer than this is not one the daemon sends: the stream is dropped and resumed. */
const FRAME_MAX_CHARS = 256 * 1024;

/**
 * Splits text into SSE frames (blank-line separated); returns the frames and the unfinished rest.
 * @param {string} text
 * @returns {{ events: SseEvent[], rest: string }}
 */
export function parseFrames(text) {
  const normalized = text.replace(/\r\n?/g, "\n");
  const blocks = normalized.split("\n\n");
  const rest = blocks.pop() ?? "";
  /** @type {SseEvent[]} */
  const events = [];
  for (const block of blocks) {
    let id = "";
    let event = "message";
    /** @type {string[]} */
    const data = [];
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
      const parsed = parseJson(data.join("\n"));
      if (typeof parsed === "object" && parsed !== null)
        events.push({ id, event, data: /** @type {Record<string, unknown>} */ (parsed) });
    } catch {
      // not JSON: not a frame this daemon sends; skipped
    }
  }
  return { events, rest };
}

/**
 * @typedef {{
 *   onEvent: (event: SseEvent) => void,
 *   onOpen: (resumed: boolean) => void,
 *   onRefused: (error: ApiError) => void,
 *   onDrop: (retryMs: number) => void,
 * }} StreamHandlers
 */

/** Follows GET /events until stop(); reconnects with Last-Event-ID after a drop. */
export class EventFollower {
  /** @param {StreamHandlers} handlers */
  constructor(handlers) {
    this.handlers = handlers;
    /** @type {string | null} the last id seen: sent as Last-Event-ID on the next connect */
    this.lastId = null;
    this.controller = new AbortController();
    this.stopped = false;
  }

  /** Runs until stopped or refused (then onRefused is called and the loop ends). */
  async run() {
    let retryMs = RETRY_FIRST_MS;
    while (!this.stopped) {
      /** @type {Response} */
      let response;
      try {
        response = await fetch("/events", {
          headers: authHeaders(this.lastId === null ? {} : { "last-event-id": this.lastId }),
          signal: this.controller.signal,
          cache: "no-store",
        });
      } catch {
        if (this.stopped) return;
        await this.backoff(retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
        continue;
      }
      if (!response.ok || response.body === null) {
        this.handlers.onRefused(await apiErrorOf(response));
        return;
      }
      this.handlers.onOpen(this.lastId !== null);
      retryMs = RETRY_FIRST_MS;
      try {
        await this.read(response);
      } catch {
        // dropped: resumed below
      }
      if (this.stopped) return;
      await this.backoff(retryMs);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    }
  }

  stop() {
    this.stopped = true;
    this.controller.abort();
  }

  /** @param {Response} response */
  async read(response) {
    if (response.body === null) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += value;
      const { events, rest } = parseFrames(pending);
      pending = rest;
      if (pending.length > FRAME_MAX_CHARS) throw new Error("an SSE frame past its bound");
      for (const event of events) {
        // `cut` carries the id to resume from; every other event is one the page has now.
        if (event.id !== "") this.lastId = event.id;
        this.handlers.onEvent(event);
      }
    }
  }

  /** @param {number} ms */
  backoff(ms) {
    this.handlers.onDrop(ms);
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.controller.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve(undefined);
        },
        { once: true },
      );
    });
  }
}

/** @param {Response} response @returns {Promise<ApiError>} */
async function apiErrorOf(response) {
  try {
    const body = /** @type {{ code?: string, message?: string }} */ (parseJson(await response.text()));
    return new ApiError(response.status, body.code ?? "HTTP", body.message ?? response.statusText);
  } catch {
    return new ApiError(response.status, "HTTP", response.statusText);
  }
}
