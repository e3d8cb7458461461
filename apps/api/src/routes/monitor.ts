import {
  isSchedulerAlive,
  isWorkerAlive,
  type SchedulerHeartbeat,
  type WorkerHeartbeat,
} from "@scheduler/core";
import { countJobsByStatus, executionStats, findLeadership } from "@scheduler/db";
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.js";
import { principalOf, requirePermission } from "../plugins/auth.js";

const DAY_MS = 24 * 3600 * 1000;
/** Processes whose last heartbeat is older than this are no longer listed. */
const LIST_WINDOW_MS = 3600 * 1000;

/**
 * Processes seen within the last hour, alive or not, from their Redis heartbeats: a
 * ZSET of ids scored by the last beat, and one expiring JSON key per process.
 */
async function listHeartbeats<T extends { heartbeatMs: number }>(
  ctx: ApiContext,
  index: string,
  keyOf: (id: string) => string,
  isAlive: (heartbeat: T, now: Date) => boolean,
  now: Date,
) {
  const ids = await ctx.redis.zrangebyscore(
    index,
    now.getTime() - LIST_WINDOW_MS,
    "+inf",
    "WITHSCORES",
  );
  const listed = [];
  for (let i = 0; i < ids.length; i += 2) {
    const id = ids[i]!;
    const raw = await ctx.redis.get(keyOf(id));
    if (raw) {
      const heartbeat = JSON.parse(raw) as T;
      const { heartbeatMs: _period, ...shown } = heartbeat;
      listed.push({ ...shown, alive: isAlive(heartbeat, now) });
    } else {
      listed.push({
        id,
        lastHeartbeatAt: new Date(Number(ids[i + 1])).toISOString(),
        alive: false,
      });
    }
  }
  return listed;
}

/** The workers with a heartbeat entry, each marked alive or not (GET /workers). */
export function listWorkers(ctx: ApiContext, now: Date) {
  return listHeartbeats<WorkerHeartbeat>(
    ctx,
    ctx.keys.workersIndex,
    ctx.keys.workerHeartbeat,
    isWorkerAlive,
    now,
  );
}

function listSchedulers(ctx: ApiContext, now: Date) {
  return listHeartbeats<SchedulerHeartbeat>(
    ctx,
    ctx.keys.schedulersIndex,
    ctx.keys.schedulerHeartbeat,
    isSchedulerAlive,
    now,
  );
}

async function queueCounts(ctx: ApiContext) {
  const counts = await ctx.dispatcher.queue.getJobCounts(
    "waiting",
    "active",
    "delayed",
    "prioritized",
    "completed",
    "failed",
    "paused",
  );
  const n = (state: string) => counts[state] ?? 0;
  return {
    name: ctx.dispatcher.queue.name,
    waiting: n("waiting"),
    active: n("active"),
    delayed: n("delayed"),
    prioritized: n("prioritized"),
    completed: n("completed"),
    failed: n("failed"),
    paused: n("paused"),
  };
}

/**
 * Per tenant, its executions running now and those turned away for its share, waiting
 * for a slot (docs/fairness.md); tenants with neither are left out.
 */
export async function tenantShares(ctx: ApiContext) {
  const [running, waiting] = await Promise.all([
    ctx.redis.hgetall(ctx.keys.fairRunning),
    ctx.redis.hgetall(ctx.keys.fairParkedCounts),
  ]);
  const ids = [...new Set([...Object.keys(running), ...Object.keys(waiting)])].sort();
  return ids.map((tenantId) => ({
    tenantId,
    running: Number(running[tenantId] ?? 0),
    waiting: Number(waiting[tenantId] ?? 0),
  }));
}

/** /status, /metrics, /queues, /workers (permission scheduler:monitor). */
export async function monitorRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const monitor = requirePermission("scheduler:monitor");

  app.get("/status", { onRequest: monitor }, async (request) => {
    const now = new Date();
    const [leadership, jobs, instances] = await Promise.all([
      findLeadership(ctx.db, ctx.keys.leaderLock),
      countJobsByStatus(ctx.db, principalOf(request).tenantId),
      listSchedulers(ctx, now),
    ]);
    const leading = leadership && leadership.expiresAt > now ? leadership : null;
    const tick = (leadership?.metadata ?? {}) as Record<string, unknown>;
    return {
      leader: leading
        ? { id: leading.lockedBy, since: leading.lockedAt.toISOString(), epoch: leading.epoch }
        : null,
      instances,
      lastTickAt: tick.lastTickAt ?? null,
      tickLagMs: tick.tickLagMs ?? null,
      tickDurationMs: tick.tickDurationMs ?? null,
      jobs: { active: jobs.active ?? 0, paused: jobs.paused ?? 0, inactive: jobs.inactive ?? 0 },
      time: now.toISOString(),
    };
  });

  app.get("/metrics", { onRequest: monitor }, async (request) => {
    const now = new Date();
    const tenantId = principalOf(request).tenantId;
    const [jobs, stats, queue, workers] = await Promise.all([
      countJobsByStatus(ctx.db, tenantId),
      executionStats(ctx.db, tenantId, { from: new Date(now.getTime() - DAY_MS), to: now }),
      queueCounts(ctx),
      listWorkers(ctx, now),
    ]);
    const finished = stats.completed + stats.failed;
    const rate = (n: number, of: number) => (of === 0 ? 0 : n / of);
    return {
      totalJobs: Object.values(jobs).reduce((a, b) => a + b, 0),
      activeJobs: jobs.active ?? 0,
      pausedJobs: jobs.paused ?? 0,
      totalExecutions: stats.total,
      successfulExecutions: stats.completed,
      failedExecutions: stats.failed,
      cancelledExecutions: stats.cancelled,
      averageExecutionTime: stats.averageDurationMs ?? 0,
      queueLength: queue.waiting + queue.delayed + queue.prioritized,
      activeWorkers: workers.filter((w) => w.alive).length,
      errorRate: rate(stats.failed, finished),
      timeoutRate: rate(stats.timeouts, finished),
      retryRate: rate(stats.retried, stats.total),
      window: { from: new Date(now.getTime() - DAY_MS).toISOString(), to: now.toISOString() },
    };
  });

  app.get("/queues", { onRequest: monitor }, async (request) => {
    const queues = [await queueCounts(ctx)];
    // Other tenants' ids and load are for the operator only.
    if (!principalOf(request).permissions.has("scheduler:admin")) return { queues };
    return { queues, tenants: await tenantShares(ctx) };
  });

  app.get("/workers", { onRequest: monitor }, async () => ({
    workers: await listWorkers(ctx, new Date()),
  }));
}
