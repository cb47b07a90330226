/**
 * Turns every failure into `{ statusCode, code, error, message }` with a stable code. 4xx bodies say
 * what to fix; 5xx bodies never carry internals (those go to the log).
 */
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyError, FastifyInstance } from "fastify";
import { BridgeError, type ErrorCode } from "../errors.js";
import { describeValidation } from "./validation.js";

function body(statusCode: number, code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? "Error", message, ...extra };
}

function validationCode(err: FastifyError): ErrorCode {
  const onKeys =
    err.validationContext === "body" &&
    (err.validation ?? []).some(
      (v) =>
        v.instancePath === "/keys" || (v.keyword === "required" && v.params["missingProperty"] === "keys"),
    );
  return onKeys ? "INVALID_KEY" : "VALIDATION";
}

function clientErrorCode(statusCode: number): ErrorCode {
  if (statusCode === 413) return "PAYLOAD_TOO_LARGE";
  if (statusCode === 415) return "UNSUPPORTED_MEDIA_TYPE";
  if (statusCode === 404) return "ROUTE_NOT_FOUND";
  return "VALIDATION";
}

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof BridgeError) {
      if (err.statusCode >= 500) request.log.warn({ err }, "request failed");
      // The port reconnects by itself (telnet every 200 ms, ttys with backoff): worth a retry soon.
      if (err.code === "PORT_UNAVAILABLE" || err.code === "QUEUE_FULL") {
        // A busy line says when its backlog will have drained; otherwise a retry soon.
        const retryAfterS = err.details?.["retryAfterS"];
        void reply.header("retry-after", typeof retryAfterS === "number" ? String(retryAfterS) : "1");
      }
      return reply
        .status(err.statusCode)
        .send(body(err.statusCode, err.code, err.message, { ...err.details }));
    }
    if (err.validation) {
      const { message, field } = describeValidation(err.validationContext ?? "request", err.validation);
      return reply.status(400).send(body(400, validationCode(err), message, field === null ? {} : { field }));
    }
    const statusCode = err.statusCode ?? 500;
    if (statusCode >= 400 && statusCode < 500) {
      return reply.status(statusCode).send(body(statusCode, clientErrorCode(statusCode), err.message));
    }
    request.log.error({ err }, "unexpected error");
    return reply.status(500).send(body(500, "INTERNAL", "internal error; see the daemon's log"));
  });

  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send(body(404, "ROUTE_NOT_FOUND", `no route ${request.method} ${request.url.split("?")[0] ?? ""}`));
  });
}

/**
 * For requests too broken to reach fastify (bad request line, bad header bytes, oversized headers):
 * the same JSON error body, and `Connection: close`, so a keep-alive client does not reuse a socket
 * the server is about to close.
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  // Headers not complete within headersTimeout (http-connections.ts): Node's own answer is a 408 too.
  const [statusCode, code, message]: [number, ErrorCode, string] =
    err.code === "HPE_HEADER_OVERFLOW"
      ? [431, "HEADERS_TOO_LARGE", "request headers are too large"]
      : err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "REQUEST_TIMEOUT", "the request did not arrive in time"]
        : [400, "MALFORMED_REQUEST", "malformed HTTP request"];
  // A HEAD response carries no body, even when the rest of the request could not be parsed.
  const head = (err as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString("latin1") === "HEAD ";
  socket.end(rawErrorResponse(statusCode, code, message, head));
}

/** A whole HTTP/1.1 error response with `Connection: close`, for a socket fastify never saw. */
export function rawErrorResponse(statusCode: number, code: ErrorCode, message: string, head = false): string {
  const payload = JSON.stringify(body(statusCode, code, message));
  return (
    `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? "Error"}\r\nConnection: close\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n` +
    (head ? "" : payload)
  );
}
