import { checkDependencies, type HealthReport } from "@scheduler/core";
import { countActiveJobs, type Db } from "@scheduler/db";
import type { Queue } from "bullmq";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";

export interface HealthDeps {
  db: Db;
  redis: Redis;
  queue: Queue;
  port: number;
  healthKey: string;
}

/** The dependency checks of API.md §Health: 200 when all pass, 503 otherwise. */
export function checkHealth(deps: HealthDeps): Promise<HealthReport> {
  return checkDependencies(
    "scheduler-service",
    {
      database: () => countActiveJobs(deps.db),
      redis: () => deps.redis.ping(),
      jobQueue: () => deps.queue.getJobCounts("waiting", "delayed", "prioritized", "active"),
      distributedLock: async () => {
        const token = `${process.pid}-${Date.now()}`;
        const taken = await deps.redis.set(deps.healthKey, token, "PX", 5000, "NX");
        if (taken !== "OK") throw new Error("health lock held");
        await deps.redis.del(deps.healthKey);
      },
    },
    ({ database, jobQueue }) => ({
      port: deps.port,
      metrics: {
        activeJobs: database ?? null,
        queueSize: jobQueue
          ? (jobQueue.waiting ?? 0) + (jobQueue.delayed ?? 0) + (jobQueue.prioritized ?? 0)
          : null,
        memoryUsage: process.memoryUsage().heapUsed,
      },
    }),
  );
}

/** GET /health and GET /internal/health, without auth. */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  const handler = async (_request: unknown, reply: import("fastify").FastifyReply) => {
    const report = await checkHealth(deps);
    return reply.status(report.status).send(report.body);
  };
  app.get("/health", handler);
  app.get("/internal/health", handler);
}
