import { hostname } from "node:os";
import {
  ConfigError,
  checkDependencies,
  createLogger,
  createMetrics,
  EXECUTION_QUEUE,
  type ExecutionMessage,
  type Failpoints,
  loadConfig,
  parseFailpoints,
  redisKeys,
  SchedulerConfig,
  startMetricsServer,
  trackClockSkew,
  trackConnections,
} from "@scheduler/core";
import { createDb, createPool, databaseNow } from "@scheduler/db";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { SchedulerHeartbeatLoop } from "./heartbeat.js";
import { LeaderElector } from "./leader.js";
import { PartitionMaintenanceLoop } from "./maintenance.js";
import { Ticker } from "./tick.js";

let config: SchedulerConfig;
try {
  config = loadConfig(SchedulerConfig, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const startedAt = new Date();
const host = hostname();
const instanceId = `scheduler-${host}-${process.pid}`;
const logger = createLogger({ name: "scheduler", level: config.LOG_LEVEL });
const keys = redisKeys(config.REDIS_KEY_PREFIX);
const renewMs = config.SCHEDULER_LOCK_RENEW_MS ?? Math.floor(config.SCHEDULER_LOCK_TTL_MS / 3);

let failpoints: Failpoints = new Map();
if (config.SCHEDULER_FAILPOINTS !== "") {
  if (config.NODE_ENV === "test") {
    failpoints = parseFailpoints(config.SCHEDULER_FAILPOINTS);
    logger.warn({ failpoints: config.SCHEDULER_FAILPOINTS }, "failpoints armed");
  } else {
    logger.warn("SCHEDULER_FAILPOINTS ignored: failpoints are honoured only when NODE_ENV=test");
  }
}

// A frozen leader must not hold row locks or hang on a statement (docs/reliability.md, rule 6).
const pool = createPool(config.DATABASE_URL, {
  max: config.DATABASE_POOL_SIZE,
  applicationName: "scheduler-scheduler",
  statementTimeoutMs: config.SCHEDULER_LOCK_TTL_MS,
  idleInTransactionTimeoutMs: config.SCHEDULER_LOCK_TTL_MS,
});
const db = createDb(pool);
// Lock commands time out before a renewal period ends, so a hung Redis cannot stall the loop.
const lockRedis = new Redis(config.REDIS_URL, { commandTimeout: renewMs, maxRetriesPerRequest: 1 });
const queueRedis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
for (const r of [lockRedis, queueRedis]) {
  r.on("error", (err) => logger.warn({ err: err.message }, "redis connection error"));
}
const queue = new Queue<ExecutionMessage>(EXECUTION_QUEUE, {
  connection: queueRedis,
  prefix: keys.bullPrefix,
});

const metrics = createMetrics({
  process: "scheduler",
  tenantLabels: config.METRICS_TENANT_LABELS,
});
trackConnections(metrics, { postgres: pool, redis: [lockRedis, queueRedis] });
const leader = new LeaderElector({
  onAttempt: (result) => {
    metrics.lockAcquisitions.inc({ lock: "leader", result });
    if (result === "acquired") metrics.leaderChanges.inc();
  },
  onLockTimeout: () => metrics.lockTimeouts.inc({ lock: "leader" }),
  failpoints,
  redis: lockRedis,
  db,
  log: logger.child({ component: "leader", instanceId }),
  instanceId,
  lockKey: keys.leaderLock,
  epochKey: keys.leaderEpoch,
  ttlMs: config.SCHEDULER_LOCK_TTL_MS,
  renewMs,
});
const ticker = new Ticker({
  db,
  queue,
  leader,
  lockKey: keys.leaderLock,
  log: logger.child({ component: "tick", instanceId }),
  tickMs: config.SCHEDULER_TICK_MS,
  lookaheadMs: config.SCHEDULER_LOOKAHEAD_MS,
  enqueueAtSlot: config.SCHEDULER_ENQUEUE_AT_SLOT,
  batchSize: config.SCHEDULER_BATCH_SIZE,
  claimConcurrency: config.SCHEDULER_CLAIM_CONCURRENCY,
  misfireThresholdMs: config.MISFIRE_THRESHOLD_MS,
  reconcileIntervalMs: config.RECONCILE_INTERVAL_MS,
  failpoints,
});
const heartbeat = new SchedulerHeartbeatLoop({
  redis: lockRedis,
  key: keys.schedulerHeartbeat(instanceId),
  indexKey: keys.schedulersIndex,
  instance: { id: instanceId, host, pid: process.pid, startedAt },
  leader,
  periodMs: renewMs,
  log: logger.child({ component: "heartbeat", instanceId }),
});

const maintenance = new PartitionMaintenanceLoop({
  db,
  leader,
  retentionDays: config.EXECUTION_RETENTION_DAYS,
  intervalMs: config.PARTITION_MAINTENANCE_INTERVAL_MS,
  log: logger.child({ component: "partitions", instanceId }),
  onDropped: (count) => metrics.partitionsDropped.inc(count),
});

ticker.stats.metrics = metrics;
metrics.collectOnScrape(metrics.leader, () => {
  metrics.leader.set({ instance_id: instanceId }, leader.isLeader() ? 1 : 0);
  if (!leader.isLeader()) metrics.tickLag.set(0);
});
trackClockSkew(metrics, () => databaseNow(db));
const metricsServer = await startMetricsServer({
  port: config.METRICS_PORT,
  host: config.METRICS_HOST,
  registry: metrics.registry,
  health: () =>
    checkDependencies(
      "scheduler-scheduler",
      {
        database: () => databaseNow(db),
        redis: () => queueRedis.ping(),
        jobQueue: () => queue.getJobCounts("waiting", "delayed"),
        distributedLock: () => lockRedis.ping(),
      },
      () => ({ instanceId, leader: leader.isLeader() }),
    ),
});
logger.info({ metricsPort: metricsServer.port }, "metrics listening");

leader.start();
ticker.start();
heartbeat.start();
maintenance.start();
logger.info({ instanceId, tickMs: config.SCHEDULER_TICK_MS }, "scheduler started");

let closing = false;
async function shutdown(signal: string): Promise<void> {
  if (closing) return;
  closing = true;
  logger.info({ signal }, "shutting down");
  await ticker.stop();
  await heartbeat.stop();
  await maintenance.stop();
  await leader.stop();
  await queue.close();
  await metricsServer.close();
  lockRedis.disconnect();
  queueRedis.disconnect();
  await pool.end();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
