import {
  ApiConfig,
  ConfigError,
  createLogger,
  createMetrics,
  loadConfig,
  redisKeys,
  startMetricsServer,
  trackClockSkew,
  trackConnections,
} from "@scheduler/core";
import { createDb, createPool, databaseNow } from "@scheduler/db";
import { Redis } from "ioredis";
import { buildApp } from "./app.js";
import { checkHealth } from "./routes/health.js";

let config: ApiConfig;
try {
  config = loadConfig(ApiConfig, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const logger = createLogger({ name: "api", level: config.LOG_LEVEL });
/** How long the API waits for one Redis command. */
const REDIS_COMMAND_TIMEOUT_MS = 1000;
// A request waiting on a row or advisory lock gives up at the lock timeout, before the
// statement timeout, so it answers 503 LOCK_ACQUISITION_FAILED rather than
// SERVICE_UNAVAILABLE (plugins/dependencyErrors.ts).
const pool = createPool(config.DATABASE_URL, {
  max: config.DATABASE_POOL_SIZE,
  applicationName: "scheduler-api",
  statementTimeoutMs: 10_000,
  lockTimeoutMs: 5_000,
});
const db = createDb(pool);
// Fail fast while Redis is down (health answers 503 instead of hanging), and while it
// is unreachable with the connection still open (a frozen server answers nothing): a
// command gives up after REDIS_COMMAND_TIMEOUT_MS, so the rate limit fails open and an
// enqueue is left to the reconciler instead of holding the request.
const redis = new Redis(config.REDIS_URL, {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
});
redis.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));

const metrics = createMetrics({ process: "api", tenantLabels: config.METRICS_TENANT_LABELS });
trackConnections(metrics, { postgres: pool, redis: [redis] });
trackClockSkew(metrics, () => databaseNow(db));
const app = await buildApp(config, { db, redis, logger, metrics });
const metricsServer = await startMetricsServer({
  port: config.METRICS_PORT,
  host: config.METRICS_HOST,
  registry: metrics.registry,
  health: () =>
    checkHealth({
      db,
      redis,
      queue: app.executionQueue,
      port: config.PORT,
      healthKey: redisKeys(config.REDIS_KEY_PREFIX).healthCheck,
    }),
});
await app.listen({ port: config.PORT, host: config.HOST });
logger.info({ metricsPort: metricsServer.port }, "metrics listening");

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  logger.info({ signal }, "shutting down");
  await app.close();
  await metricsServer.close();
  redis.disconnect();
  await pool.end();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
