/**
 * Builds the HTTP API as a fastify instance around a port registry; listening is main's job, so tests
 * drive the same app through app.inject().
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { PortRegistry } from "../ports/registry.js";
import { installErrorHandler } from "./error-handler.js";
import { logRoutes } from "./routes/log.js";
import { nmiRoutes } from "./routes/nmi.js";
import { portRoutes } from "./routes/ports.js";
import { sysrqRoutes } from "./routes/sysrq.js";
import { writeRoutes } from "./routes/write.js";
import { createValidatorCompiler } from "./validation.js";

declare module "fastify" {
  interface FastifyInstance {
    ports: PortRegistry;
    /** Aborted when the server starts closing: long-polls end at once instead of holding up shutdown. */
    closing: AbortSignal;
  }
}

export interface AppOptions {
  readonly ports: PortRegistry;
  readonly logger: Logger;
}

export type BridgeApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export async function buildApp(options: AppOptions): Promise<BridgeApp> {
  // Typed as fastify's base logger so plugins written against the default instance type fit.
  const loggerInstance: FastifyBaseLogger = options.logger.child({ component: "http" });
  const app = Fastify({
    loggerInstance,
    bodyLimit: 16 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  app.decorate("ports", options.ports);
  const closing = new AbortController();
  app.decorate("closing", closing.signal);
  app.addHook("preClose", () => closing.abort());
  // A response finished during shutdown closes its connection, so a keep-alive socket does not hold
  // the server open for its idle timeout.
  app.addHook("onSend", async (_request, reply) => {
    if (closing.signal.aborted) void reply.header("connection", "close");
  });
  installErrorHandler(app);
  await app.register(portRoutes);
  await app.register(sysrqRoutes);
  await app.register(logRoutes);
  await app.register(writeRoutes);
  await app.register(nmiRoutes);
  return app;
}
