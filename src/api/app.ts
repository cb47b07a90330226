/**
 * Builds the HTTP API as a fastify instance around a port registry; listening is main's job, so tests
 * drive the same app through app.inject().
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import rateLimit from "@fastify/rate-limit";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from "fastify";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { ListenConfig, RateLimitConfig, TokenConfig } from "../config/types.js";
import { BridgeError } from "../errors.js";
import type { PortRegistry } from "../ports/registry.js";
import { AccessLog } from "./access-log.js";
import type { AuditLog } from "../audit/audit-log.js";
import { installAudit } from "./install-audit.js";
import { installAuth } from "./auth/install-auth.js";
import { TokenVerifier } from "./auth/tokens.js";
import { answerClientError, installErrorHandler } from "./error-handler.js";
import { LazySchemas } from "./lazy-schemas.js";
import { precompiledSchemas } from "./precompiled-schemas.js";
import { BridgeMetrics } from "./metrics/metrics.js";
import { registerOpenApi } from "./openapi.js";
import { auditRoutes } from "./routes/audit.js";
import { captureRoutes } from "./routes/capture.js";
import { consoleRoutes } from "./routes/console.js";
import { keyRoutes } from "./routes/keys.js";
import { leaseRoutes } from "./routes/lease.js";
import { ConsoleHub } from "./console/hub.js";
import { metricsRoutes } from "./routes/metrics.js";
import { logRoutes } from "./routes/log.js";
import { nmiRoutes } from "./routes/nmi.js";
import { powerRoutes } from "./routes/power.js";
import { portRoutes } from "./routes/ports.js";
import { reloadRoutes } from "./routes/reload.js";
import { sysrqRoutes } from "./routes/sysrq.js";
import { writeRoutes } from "./routes/write.js";
import { HTTP_SERVER_OPTIONS, KEEP_ALIVE_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from "./http-connections.js";
import { createValidatorCompiler } from "./validation.js";
import { incidentRoutes } from "./routes/incidents.js";
import { IncidentStore } from "../recovery/incidents.js";
import { Recoveries } from "../recovery/recoveries.js";
import { recoverRoutes } from "./routes/recover.js";
import { eventRoutes } from "./routes/events.js";
import { EventHub, type EventLimits } from "../recovery/events.js";
import { registerWebConsole } from "./web.js";

declare module "fastify" {
  interface FastifyInstance {
    ports: PortRegistry;
    audit: AuditLog;
    metrics: BridgeMetrics;
    tokens: TokenVerifier;
    consoles: ConsoleHub;
    incidents: IncidentStore;
    /** Recovery ladders and their guard rails (health, quarantine). */
    recovery: Recoveries;
    /** Live events for GET /events (incidents, port state and health). */
    events: EventHub;
    /** Re-reads the config file and applies it (daemon/daemon.ts); POST /reload and SIGHUP. */
    reloadConfig: () => Promise<ReloadResult>;
    /** A reload's tokens and rate limits, for the requests that follow. */
    reconfigure: (settings: LiveSettings) => void;
    /** Aborted when the server starts closing: long-polls end at once instead of holding up shutdown. */
    closing: AbortSignal;
  }
}

/** How long after listening the schemas no request has needed yet start compiling (lazy-schemas.ts). */
const COMPILE_REMAINING_AFTER_MS = 250;

/** What a reload changes in the HTTP layer without rebuilding it. */
export interface LiveSettings {
  readonly tokens: readonly TokenConfig[];
  readonly rateLimit: RateLimitConfig;
}

/** The ports a reload added, removed, restarted with new settings and left alone. */
export interface ReloadResult {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  readonly unchanged: readonly string[];
}

export interface AppOptions {
  readonly ports: PortRegistry;
  readonly logger: Logger;
  readonly audit: AuditLog;
  /** What the crash watchers found; absent: an empty store in memory (in-process tests). */
  readonly incidents?: IncidentStore;
  /** The daemon's ladders; absent: made here over `incidents` (in-process tests). */
  readonly recovery?: Recoveries;
  /** Empty: no authentication (the config then allows loopback listeners only). */
  readonly tokens: readonly TokenConfig[];
  readonly rateLimit: RateLimitConfig;
  readonly tls?: ListenConfig["tls"];
  /** POST /reload; absent: the route answers that this daemon cannot reload (tests' in-process apps). */
  readonly reload?: () => Promise<ReloadResult>;
  /** GET /events' bounds; absent: DEFAULT_EVENT_LIMITS (tests lower them). */
  readonly events?: Partial<EventLimits>;
  /** The route schemas' compilers; the build passes its own to list them (scripts/route-schemas.ts). */
  readonly schemas?: LazySchemas;
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
  const schemas = options.schemas ?? new LazySchemas(precompiledSchemas);
  const common = {
    loggerInstance,
    bodyLimit: 16 * 1024,
    genReqId: () => randomUUID(),
    clientErrorHandler: answerClientError,
    logController: new AccessLog(),
    schemaController: { compilersFactory: schemas.compilersFactory(createValidatorCompiler()) },
    // Half-open and idle connections are closed (http-connections.ts); fastify's keep-alive is 72 s.
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout: REQUEST_TIMEOUT_MS,
  };
  // Routes never touch the raw server, so an HTTPS instance is typed as the HTTP one.
  const app = (options.tls
    ? Fastify({ ...common, https: { ...options.tls, ...HTTP_SERVER_OPTIONS } })
    : Fastify({ ...common, http: HTTP_SERVER_OPTIONS })
  ).withTypeProvider<TypeBoxTypeProvider>() as unknown as BridgeApp;
  // Not at once: the first moments after listening belong to the first connects and requests (see
  // docs/performance.md).
  app.addHook("onListen", async () => {
    setTimeout(() => schemas.compileRemaining(), COMPILE_REMAINING_AFTER_MS).unref();
  });
  app.decorate("ports", options.ports);
  app.decorate("audit", options.audit);
  app.decorate("tokens", new TokenVerifier(options.tokens));
  app.decorate("consoles", new ConsoleHub());
  const incidents = options.incidents ?? IncidentStore.inMemory(options.logger);
  app.decorate("incidents", incidents);
  app.decorate(
    "recovery",
    options.recovery ??
      new Recoveries({
        ports: options.ports,
        store: incidents,
        audit: options.audit,
        log: options.logger.child({ component: "recovery" }),
      }),
  );
  app.decorate("metrics", new BridgeMetrics(options.ports, incidents, app.recovery));
  const events = new EventHub({
    store: incidents,
    ports: options.ports,
    health: app.recovery,
    ...(options.events === undefined ? {} : { limits: options.events }),
  });
  app.decorate("events", events);
  app.metrics.eventStreams(events);
  // Streams end with `cut` as soon as closing starts (the route listens to `closing`); this unsubscribes the hub.
  app.addHook("onClose", (_instance, done) => {
    events.close();
    done();
  });
  // Hooks every request runs take a callback: no promise on every answer's path (see docs/performance.md).
  app.addHook("onResponse", (request, reply, done) => {
    app.metrics.request(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode);
    done();
  });
  const closing = new AbortController();
  app.decorate("closing", closing.signal);
  app.addHook("preClose", () => closing.abort());
  app.addHook("onSend", (request, reply, payload, done) => {
    void reply.header("x-request-id", request.id);
    // A response finished during shutdown closes its connection, so a keep-alive socket does not hold
    // the server open for its idle timeout.
    if (closing.signal.aborted) void reply.header("connection", "close");
    done(null, payload);
  });
  installErrorHandler(app);
  installAuth(app, app.tokens, options.rateLimit);
  let rateLimits = options.rateLimit;
  app.decorate("reconfigure", (settings: LiveSettings) => {
    app.tokens.use(settings.tokens);
    rateLimits = settings.rateLimit;
    app.authFailures.configure(rateLimits.authFailures, rateLimits.timeWindowMs);
  });
  app.decorate(
    "reloadConfig",
    options.reload ??
      (() =>
        Promise.reject(new BridgeError("CONFIG_INVALID", "this daemon was not started from a config file"))),
  );
  installAudit(app, options.audit);
  // Per token (per client address when auth is off); registered after the auth hook so it knows who.
  await app.register(rateLimit, {
    // Read per request, so a reload's limits apply to the next one.
    max: () => rateLimits.max,
    timeWindow: () => rateLimits.timeWindowMs,
    keyGenerator: (request) => (request.principal ? `token:${request.principal.name}` : `ip:${request.ip}`),
    errorResponseBuilder: (_request, context) =>
      new BridgeError("RATE_LIMITED", `more than ${context.max} requests in ${context.after}; retry later`),
  });
  await registerOpenApi(app);
  await app.register(portRoutes);
  await app.register(sysrqRoutes);
  await app.register(keyRoutes);
  await app.register(logRoutes);
  await app.register(writeRoutes);
  await app.register(nmiRoutes);
  await app.register(powerRoutes);
  await app.register(auditRoutes);
  await app.register(metricsRoutes);
  await app.register(captureRoutes);
  await app.register(consoleRoutes);
  await app.register(leaseRoutes);
  await app.register(reloadRoutes);
  await app.register(incidentRoutes);
  await app.register(recoverRoutes);
  await app.register(eventRoutes);
  await registerWebConsole(app);
  return app;
}
