import { hostname } from "node:os";
import {
  ConfigError,
  createLogger,
  EXECUTION_QUEUE,
  type ExecutionMessage,
  loadConfig,
  redisKeys,
  WorkerConfig,
} from "@scheduler/core";
import { createDb, createPool } from "@scheduler/db";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { createProcessor } from "./consumer.js";

let config: WorkerConfig;
try {
  config = loadConfig(WorkerConfig, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const workerId = config.WORKER_ID ?? `worker-${hostname()}-${process.pid}`;
const logger = createLogger({ name: "worker", level: config.LOG_LEVEL });
const pool = createPool(config.DATABASE_URL, {
  // Every running execution writes its start and end; more slots than that queue up.
  max: Math.min(config.DATABASE_POOL_SIZE, config.WORKER_CONCURRENCY + 2),
  applicationName: "scheduler-worker",
  statementTimeoutMs: 10_000,
});
const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
connection.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));

const worker = new Worker<ExecutionMessage>(
  EXECUTION_QUEUE,
  createProcessor({ db: createDb(pool), workerId, log: logger.child({ workerId }) }),
  {
    connection,
    prefix: redisKeys(config.REDIS_KEY_PREFIX).bullPrefix,
    concurrency: config.WORKER_CONCURRENCY,
  },
);
worker.on("failed", (job, err) =>
  logger.error({ queueJobId: job?.id, err: err.message }, "queue job failed"),
);
worker.on("error", (err) => logger.error({ err: err.message }, "worker error"));
logger.info({ workerId, concurrency: config.WORKER_CONCURRENCY }, "worker started");

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  logger.info({ signal }, "shutting down: finishing running executions");
  await worker.close();
  connection.disconnect();
  await pool.end();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
