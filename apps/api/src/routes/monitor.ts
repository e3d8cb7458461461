import { isWorkerAlive, type WorkerHeartbeat } from "@scheduler/core";
import { countJobsByStatus, executionStats, findLeadership } from "@scheduler/db";
import type { FastifyInstance } from "fastify";
import type { ApiContext } from "../context.js";
import { principalOf, requirePermission } from "../plugins/auth.js";

const DAY_MS = 24 * 3600 * 1000;
/** Workers whose last heartbeat is older than this are no longer listed. */
const WORKER_LIST_WINDOW_MS = 3600 * 1000;

/** Workers seen within the last hour, alive or not, from their Redis heartbeats. */
export async function listWorkers(ctx: ApiContext, now: Date) {
  const ids = await ctx.redis.zrangebyscore(
    ctx.keys.workersIndex,
    now.getTime() - WORKER_LIST_WINDOW_MS,
    "+inf",
    "WITHSCORES",
  );
  const workers = [];
  for (let i = 0; i < ids.length; i += 2) {
    const id = ids[i]!;
    const raw = await ctx.redis.get(ctx.keys.workerHeartbeat(id));
    if (raw) {
      const heartbeat = JSON.parse(raw) as WorkerHeartbeat;
      const { heartbeatMs: _period, ...shown } = heartbeat;
      workers.push({ ...shown, alive: isWorkerAlive(heartbeat, now) });
    } else {
      workers.push({
        id,
        lastHeartbeatAt: new Date(Number(ids[i + 1])).toISOString(),
        alive: false,
      });
    }
  }
  return workers;
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

/** /status, /metrics, /queues, /workers (permission scheduler:monitor). */
export async function monitorRoutes(app: FastifyInstance, ctx: ApiContext): Promise<void> {
  const monitor = requirePermission("scheduler:monitor");

  app.get("/status", { preHandler: monitor }, async (request) => {
    const now = new Date();
    const [leadership, jobs] = await Promise.all([
      findLeadership(ctx.db, ctx.keys.leaderLock),
      countJobsByStatus(ctx.db, principalOf(request).tenantId),
    ]);
    const leading = leadership && leadership.expiresAt > now ? leadership : null;
    const tick = (leadership?.metadata ?? {}) as Record<string, unknown>;
    return {
      leader: leading
        ? { id: leading.lockedBy, since: leading.lockedAt.toISOString(), epoch: leading.epoch }
        : null,
      lastTickAt: tick.lastTickAt ?? null,
      tickLagMs: tick.tickLagMs ?? null,
      tickDurationMs: tick.tickDurationMs ?? null,
      jobs: { active: jobs.active ?? 0, paused: jobs.paused ?? 0, inactive: jobs.inactive ?? 0 },
      time: now.toISOString(),
    };
  });

  app.get("/metrics", { preHandler: monitor }, async (request) => {
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

  app.get("/queues", { preHandler: monitor }, async () => ({ queues: [await queueCounts(ctx)] }));

  app.get("/workers", { preHandler: monitor }, async () => ({
    workers: await listWorkers(ctx, new Date()),
  }));
}
