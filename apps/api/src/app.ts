import { randomUUID } from "node:crypto";
import { type ApiConfig, EXECUTION_QUEUE, type Logger, redisKeys } from "@scheduler/core";
import type { Db } from "@scheduler/db";
import { Queue } from "bullmq";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import type { Redis } from "ioredis";
import { authPlugin } from "./plugins/auth.js";
import { registerErrorHandling } from "./plugins/errors.js";
import { healthRoutes } from "./routes/health.js";
import { jobRoutes } from "./routes/jobs.js";

/** Bodies over this answer 413 PAYLOAD_TOO_LARGE. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

export interface AppDeps {
  db: Db;
  redis: Redis;
  logger: Logger;
}

/** The API without a listening socket: main.ts listens, tests use `app.inject()`. */
export async function buildApp(config: ApiConfig, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    requestIdHeader: "x-request-id",
    genReqId: () => randomUUID(),
  });
  // JSON only: any other body answers 415 UNSUPPORTED_MEDIA_TYPE (API.md §Errors).
  app.removeContentTypeParser(["text/plain"]);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);

  const keys = redisKeys(config.REDIS_KEY_PREFIX);
  const queue = new Queue(EXECUTION_QUEUE, { connection: deps.redis, prefix: keys.bullPrefix });
  app.addHook("onClose", () => queue.close());

  await app.register(authPlugin, config);
  await app.register(healthRoutes, {
    db: deps.db,
    redis: deps.redis,
    queue,
    port: config.PORT,
    healthKey: keys.healthCheck,
  });
  await app.register(jobRoutes, { db: deps.db, prefix: "/api/v1/scheduler" });
  return app;
}
