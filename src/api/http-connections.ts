/**
 * The HTTP server's connections: timeouts so a half-open or idle connection cannot hold a descriptor,
 * the per-address and total caps (connection-limits.ts), and shutdown's close of every connection
 * with no request in flight (a half-open one would otherwise hold server.close() until its timeout).
 *
 *   headers not complete within HEADERS_TIMEOUT_MS        408 REQUEST_TIMEOUT, closed
 *   request body not complete within REQUEST_TIMEOUT_MS   408, closed
 *   keep-alive connection idle for KEEP_ALIVE_TIMEOUT_MS  closed
 *   over a cap                                            503 TOO_MANY_CONNECTIONS (plain HTTP), closed
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { ListenerGate, Refusal } from "../connection-limits.js";
import { rawErrorResponse } from "./error-handler.js";

export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** At shutdown, how long a connection gets to finish sending its request's headers. */
const SHUTDOWN_GRACE_MS = 1_000;
/** How often Node looks for connections past their headers/request timeout (its default is 30 s). */
const TIMEOUT_CHECK_MS = 1_000;

/** Options for http(s).createServer: fastify passes them through (`http`, or merged into `https`). */
export const HTTP_SERVER_OPTIONS = {
  /** TLS only: a handshake not done within it is closed (node's default is 120 s). */
  handshakeTimeout: HEADERS_TIMEOUT_MS,
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  connectionsCheckingInterval: TIMEOUT_CHECK_MS,
} as const;

/** The over-cap answer for a plain HTTP socket; a TLS one is only closed (no handshake yet). */
export function refuseHttp(tls: boolean): (socket: Socket, why: Refusal) => void {
  return (socket, why) => {
    if (tls) {
      socket.destroy();
      return;
    }
    const message =
      why === "address" ? "too many connections from this address" : "too many connections to this daemon";
    socket.end(rawErrorResponse(503, "TOO_MANY_CONNECTIONS", message), () => socket.destroy());
  };
}

export class HttpConnections {
  private readonly sockets = new Set<Socket>();
  /** Sockets with a request being answered, and those upgraded to a WebSocket (closed by their route). */
  private readonly busy = new Set<Socket>();
  private closing = false;

  constructor(server: Server, gate: ListenerGate) {
    server.on("connection", (socket: Socket) => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      if (!gate.admit(socket)) return;
      this.sockets.add(socket);
      socket.once("close", () => {
        this.sockets.delete(socket);
        this.busy.delete(socket);
      });
    });
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      const socket = tcpOf(request.socket);
      this.busy.add(socket);
      response.once("close", () => {
        this.busy.delete(socket);
        if (this.closing) socket.destroySoon();
      });
    });
    server.on("upgrade", (request: IncomingMessage) => this.busy.add(tcpOf(request.socket)));
  }

  /**
   * Shutdown: a connection with no request in flight a moment from now is closed (idle keep-alive
   * ones fastify closes at once); those answering a request close after their answer.
   */
  closeIdle(): void {
    this.closing = true;
    // The moment lets a request whose headers are on their way still be answered.
    setTimeout(() => {
      for (const socket of this.sockets) if (!this.busy.has(socket)) socket.destroy();
    }, SHUTDOWN_GRACE_MS).unref();
  }
}

/** The TCP socket a request came on: under TLS, the one its TLSSocket wraps (node sets `_parent`). */
function tcpOf(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
}
