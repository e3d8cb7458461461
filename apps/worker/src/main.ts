import { hostname } from "node:os";
import {
  ConfigError,
  checkDependencies,
  createLogger,
  createMetrics,
  EXECUTION_QUEUE,
  type ExecutionMessage,
  type Failpoints,
  HttpAgents,
  type KeyRing,
  loadConfig,
  parseFailpoints,
  parseKeyRing,
  redisKeys,
  startMetricsServer,
  trackClockSkew,
  trackConnections,
  WorkerConfig,
} from "@scheduler/core";
import { createDb, createPool, databaseNow } from "@scheduler/db";
import { Job, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { CancelListener } from "./cancelListener.js";
import { createProcessor, type WorkerStats } from "./consumer.js";
import { DbGate } from "./dbGate.js";
import { FairShare } from "./fairShare.js";
import { Heartbeat } from "./heartbeat.js";
import { Reaper } from "./reaper.js";
import { RunningExecutions } from "./runningExecutions.js";

/** Exits naming the variable, as loadConfig's errors do. */
function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

let config: WorkerConfig;
let ring: KeyRing;
let armed: Failpoints;
try {
  config = loadConfig(WorkerConfig, process.env);
  ring = parseKeyRing(config.CONFIG_ENCRYPTION_KEY);
  // SCHEDULER_FAILPOINTS (docs/reliability.md §Failpoints) is not in core's WorkerConfig yet.
  armed = parseFailpoints(process.env.SCHEDULER_FAILPOINTS);
} catch (error) {
  if (error instanceof ConfigError) fail(error.message);
  fail(`invalid configuration:\n  ${(error as Error).message}`);
}

const workerId = config.WORKER_ID ?? `worker-${hostname()}-${process.pid}`;
const logger = createLogger({ name: "worker", level: config.LOG_LEVEL }).child({ workerId });
const failpoints: Failpoints = config.NODE_ENV === "test" ? armed : new Map();
if (armed.size > 0) {
  logger.warn(
    { honoured: failpoints.size > 0 },
    "failpoints given (honoured only when NODE_ENV=test)",
  );
}
const keys = redisKeys(config.REDIS_KEY_PREFIX);
// Every running execution writes its start and end; more slots than that queue up.
const poolSize = Math.min(config.DATABASE_POOL_SIZE, config.WORKER_CONCURRENCY + 2);
const pool = createPool(config.DATABASE_URL, {
  max: poolSize,
  applicationName: "scheduler-worker",
  statementTimeoutMs: 10_000,
  // A frozen worker must not hold a job's start lock.
  idleInTransactionTimeoutMs: 10_000,
});
const db = createDb(pool);
// Executions queue for connections here, without pg-pool's 5 s limit; two stay free for
// the reaper and the cancel catch-up.
const dbGate = new DbGate(Math.max(1, poolSize - 2));
const connection = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
const subscriber = connection.duplicate();
for (const r of [connection, subscriber]) {
  r.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
}
const queue = new Queue<ExecutionMessage>(EXECUTION_QUEUE, { connection, prefix: keys.bullPrefix });

const metrics = createMetrics({ process: "worker", tenantLabels: config.METRICS_TENANT_LABELS });
trackConnections(metrics, { postgres: pool, redis: [connection, subscriber] });
trackClockSkew(metrics, () => databaseNow(db));

const running = new RunningExecutions();
const stats: WorkerStats = { active: 0, processed: 0, failed: 0 };
const heartbeat = new Heartbeat({
  redis: connection,
  key: keys.workerHeartbeat(workerId),
  indexKey: keys.workersIndex,
  identity: {
    id: workerId,
    host: hostname(),
    pid: process.pid,
    concurrency: config.WORKER_CONCURRENCY,
    startedAt: new Date().toISOString(),
  },
  intervalMs: config.WORKER_HEARTBEAT_MS,
  stats,
  log: logger.child({ component: "heartbeat" }),
});
const cancelListener = new CancelListener({
  subscriber,
  channel: keys.cancelChannel,
  running,
  db,
  log: logger.child({ component: "cancel" }),
});
const reaper = new Reaper({
  db,
  redis: connection,
  queue,
  indexKey: keys.workersIndex,
  heartbeatKey: keys.workerHeartbeat,
  intervalMs: config.WORKER_STALLED_INTERVAL_MS,
  minAgeMs: 2 * config.WORKER_STALLED_INTERVAL_MS,
  log: logger.child({ component: "reaper" }),
});

const fairShare = config.TENANT_FAIRNESS
  ? new FairShare({
      redis: connection,
      keys,
      workerId,
      slots: config.WORKER_CONCURRENCY,
      leaseMs: 3 * config.WORKER_HEARTBEAT_MS,
      weights: config.TENANT_WEIGHTS ?? "",
      maxPerTenant: config.TENANT_MAX_CONCURRENT,
      // A quarter of the headroom each for the overflow and for deliveries waiting in the
      // worker; the other half stays free for tenants under their share.
      overflow: Math.floor(config.WORKER_FAIR_HEADROOM / 4),
      maxWaiting: Math.floor(config.WORKER_FAIR_HEADROOM / 4),
      promote: async (queueJobId) => {
        const parked = await Job.fromId(queue, queueJobId);
        await parked?.promote();
      },
      log: logger.child({ component: "fairShare" }),
    })
  : undefined;

if (fairShare) {
  metrics.collectOnScrape(metrics.tenantLongestWait, async () =>
    metrics.tenantLongestWait.set(await fairShare.longestWaitSeconds()),
  );
}

const httpAgents = new HttpAgents();
const worker = new Worker<ExecutionMessage>(
  EXECUTION_QUEUE,
  createProcessor({
    db,
    dbGate,
    workerId,
    log: logger,
    ring,
    settings: {
      allowedCidrs: config.HTTP_JOB_ALLOWED_CIDRS,
      functionsDir: config.FUNCTIONS_DIR,
      allowedCommands: config.COMMAND_JOB_ALLOWED,
      workdirRoot: config.COMMAND_JOB_WORKDIR_ROOT,
      killGraceMs: config.CANCEL_KILL_GRACE_MS,
      httpAgents,
    },
    running,
    stats,
    failpoints,
    metrics,
    fairShare,
  }),
  {
    connection,
    prefix: keys.bullPrefix,
    // With fairness, headroom beyond the slots: a tenant under its share starts while
    // others hold every slot, and turned-away jobs are parked without waiting for one.
    concurrency: config.WORKER_CONCURRENCY + (fairShare ? config.WORKER_FAIR_HEADROOM : 0),
    autorun: false,
    // A dead worker's lock lapses within one stalled interval, so the next check by any
    // worker delivers its executions again (each re-run counts in retryCount).
    lockDuration: Math.max(1000, config.WORKER_STALLED_INTERVAL_MS),
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: 1,
  },
);
worker.on("failed", (job, err) =>
  logger.error({ queueJobId: job?.id, err: err.message }, "queue job failed"),
);
worker.on("error", (err) => logger.error({ err: err.message }, "worker error"));

const metricsServer = await startMetricsServer({
  port: config.METRICS_PORT,
  host: config.METRICS_HOST,
  registry: metrics.registry,
  health: () =>
    checkDependencies("scheduler-worker", {
      database: () => databaseNow(db),
      redis: () => connection.ping(),
      jobQueue: () => queue.getJobCounts("waiting", "active"),
    }),
});
logger.info({ metricsPort: metricsServer.port }, "metrics listening");

// Listed and listening before the first execution is taken.
await heartbeat.start();
await cancelListener.start();
await fairShare?.start();
reaper.start();
void worker.run();
logger.info({ concurrency: config.WORKER_CONCURRENCY }, "worker started");

let closing = false;
/**
 * SIGTERM/SIGINT: stop taking work; running executions get WORKER_SHUTDOWN_GRACE_MS to
 * finish, then are aborted and recorded `failed` (SYSTEM_ERROR, "worker shut down …").
 */
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  const graceMs = config.WORKER_SHUTDOWN_GRACE_MS;
  logger.info({ signal, running: running.size, graceMs }, "shutting down: no new work");
  const graceTimer = setTimeout(() => {
    logger.warn({ running: running.size }, "shutdown grace over: aborting running executions");
    running.stopAll("shutdown");
  }, graceMs);
  // Executors settle within the kill grace of an abort; past this something is wedged.
  setTimeout(
    () => {
      logger.error("shutdown did not finish; exiting");
      process.exit(1);
    },
    graceMs + config.CANCEL_KILL_GRACE_MS + 30_000,
  ).unref();
  await reaper.stop();
  await worker.close();
  clearTimeout(graceTimer);
  await cancelListener.stop();
  await fairShare
    ?.stop()
    .catch((err: Error) => logger.warn({ err: err.message }, "fair-share slots not removed"));
  await heartbeat
    .stop()
    .catch((err: Error) => logger.warn({ err: err.message }, "heartbeat not removed"));
  await queue.close();
  await httpAgents.close();
  await metricsServer.close();
  connection.disconnect();
  await pool.end();
  logger.info({ processed: stats.processed }, "worker stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
