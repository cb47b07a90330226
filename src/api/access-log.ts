/**
 * One access-log line per request, written when it completes, instead of fastify's two (incoming +
 * completed): every line is a write on the path of the answer. The completed line carries what the
 * incoming one did (method, url, client), so nothing is lost; errors keep fastify's own line.
 */
import { LogController, type FastifyReply, type FastifyRequest } from "fastify";

export class AccessLog extends LogController {
  override incomingRequest(): void {
    // Logged with the outcome, in requestCompleted.
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) {
      reply.log.error(
        { req: request, res: reply, err: error, responseTime: reply.elapsedTime },
        "request errored",
      );
      return;
    }
    reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, "request completed");
  }
}
