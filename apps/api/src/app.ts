import { randomUUID } from "node:crypto";
import {
  type ApiConfig,
  type JobConfig,
  type JobType,
  type KeyRing,
  type Logger,
  type Metrics,
  maskConfig,
  parseKeyRing,
  redisKeys,
  sealConfig,
} from "@scheduler/core";
import { countJobsByStatus, type Db } from "@scheduler/db";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Redis } from "ioredis";
import type { ApiContext } from "./context.js";
import { DefinitionChecker } from "./definitions.js";
import { Dispatcher } from "./dispatch.js";
import { ExecutionService } from "./executionService.js";
import { type ConfigSecrets, JobService } from "./jobService.js";
import { authPlugin } from "./plugins/auth.js";
import { registerAuthFirst } from "./plugins/authFirst.js";
import { registerErrorHandling } from "./plugins/errors.js";
import { registerHostileInputChecks } from "./plugins/hostileInput.js";
import { registerRequestMetrics } from "./plugins/metrics.js";
import { registerOpenApi } from "./plugins/openapi.js";
import { answerClientError, answerFrameworkError } from "./plugins/protocolErrors.js";
import { TenantRateLimiter } from "./plugins/rateLimit.js";
import { auditRoutes } from "./routes/audit.js";
import { executionRoutes } from "./routes/executions.js";
import { healthRoutes } from "./routes/health.js";
import { internalRoutes } from "./routes/internal.js";
import { jobActionRoutes } from "./routes/jobActions.js";
import { jobRoutes } from "./routes/jobs.js";
import { listWorkers, monitorRoutes } from "./routes/monitor.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The execution queue, for health checks outside the app (the metrics port). */
    executionQueue: import("bullmq").Queue;
  }
}

/** Bodies over this answer 413 PAYLOAD_TOO_LARGE. */
export const BODY_LIMIT_BYTES = 1024 * 1024;
const TENANT_PREFIX = "/api/v1/scheduler";

export interface AppDeps {
  db: Db;
  redis: Redis;
  logger: Logger;
  /** When given, requests are counted and queue and job gauges read on scrape. */
  metrics?: Metrics;
}

/** Secret config values sealed at rest with the key ring, masked in every answer. */
function configSecrets(ring: KeyRing): ConfigSecrets {
  return {
    seal: (jobType, config, previous) =>
      sealConfig(jobType as JobType, config as JobConfig, ring, previous),
    mask: (jobType, stored) => maskConfig(jobType as JobType, stored),
  };
}

function createContext(config: ApiConfig, deps: AppDeps): ApiContext {
  const keys = redisKeys(config.REDIS_KEY_PREFIX);
  const dispatcher = new Dispatcher(deps.redis, config.REDIS_KEY_PREFIX, deps.logger);
  const definitions = new DefinitionChecker({
    allowedCidrs: config.HTTP_JOB_ALLOWED_CIDRS,
    commandAllowed: config.COMMAND_JOB_ALLOWED,
    commandWorkdirRoot: config.COMMAND_JOB_WORKDIR_ROOT,
    functionsDir: config.FUNCTIONS_DIR,
  });
  const secrets = configSecrets(parseKeyRing(config.CONFIG_ENCRYPTION_KEY));
  const jobs = new JobService({
    db: deps.db,
    dispatcher,
    maxJobsPerTenant: config.TENANT_MAX_JOBS,
    checkDefinition: (request) => definitions.assert(request),
    secrets,
  });
  const executions = new ExecutionService(deps.db, dispatcher, jobs);
  return {
    config,
    db: deps.db,
    redis: deps.redis,
    keys,
    dispatcher,
    definitions,
    secrets,
    jobs,
    executions,
  };
}

function observe(app: FastifyInstance, ctx: ApiContext, metrics: Metrics): void {
  registerRequestMetrics(app, metrics);
  metrics.collectOnScrape(metrics.queueSize, async () => {
    const counts = await ctx.dispatcher.queue.getJobCounts(
      "waiting",
      "delayed",
      "prioritized",
      "active",
      "paused",
    );
    for (const [state, n] of Object.entries(counts))
      metrics.queueSize.set({ queue_name: ctx.dispatcher.queue.name, state }, n);
  });
  metrics.collectOnScrape(metrics.workersAlive, async () => {
    const workers = await listWorkers(ctx, new Date());
    metrics.workersAlive.set(workers.filter((w) => w.alive).length);
  });
  metrics.collectOnScrape(metrics.jobs, async () => {
    const counts = await countJobsByStatus(ctx.db);
    for (const status of ["active", "paused", "inactive"])
      metrics.jobs.set({ status }, counts[status] ?? 0);
  });
}

/** The API without a listening socket: main.ts listens, tests use `app.inject()`. */
export async function buildApp(config: ApiConfig, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: "x-request-id",
    genReqId: () => randomUUID(),
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  });
  // JSON only: any other body answers 415 UNSUPPORTED_MEDIA_TYPE (API.md §Errors). An
  // empty JSON body counts as none, so action calls such as pause may send the header
  // without a body; routes that need a body still refuse it by their schema.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser(["text/plain", "application/json"]);
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (body === "") return done(null, undefined);
    return parseJson(request, body as string, done);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  registerHostileInputChecks(app);

  const ctx = createContext(config, deps);
  app.decorate(
    "tenantRateLimiter",
    new TenantRateLimiter(
      deps.redis,
      ctx.keys.rateLimit,
      config.TENANT_RATE_LIMIT_PER_MINUTE,
      deps.logger,
    ),
  );
  app.decorate("executionQueue", ctx.dispatcher.queue);
  app.addHook("onClose", () => ctx.dispatcher.close());
  if (deps.metrics) observe(app, ctx, deps.metrics);

  await registerOpenApi(app);
  registerAuthFirst(app, {
    protectedPrefixes: [TENANT_PREFIX, "/internal"],
    publicRoutes: ["/internal/health"],
  });
  await app.register(authPlugin, config);
  await app.register(healthRoutes, {
    db: deps.db,
    redis: deps.redis,
    queue: ctx.dispatcher.queue,
    port: config.PORT,
    healthKey: ctx.keys.healthCheck,
  });
  await app.register(internalRoutes, ctx);
  for (const routes of [jobRoutes, jobActionRoutes, executionRoutes, auditRoutes, monitorRoutes]) {
    await app.register(routes, { ...ctx, prefix: TENANT_PREFIX });
  }
  return app;
}
