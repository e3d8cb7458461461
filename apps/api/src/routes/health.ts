import { randomUUID } from "node:crypto";
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
  /** The key one probe's lock check sets, named by the probe's own id. */
  healthKey: (probeId: string) => string;
}

/** The dependency checks of API.md §Health: 200 when all pass, 503 otherwise. */
export function checkHealth(deps: HealthDeps): Promise<HealthReport> {
  return checkDependencies(
    "scheduler-service",
    {
      database: () => countActiveJobs(deps.db),
      redis: () => deps.redis.ping(),
      jobQueue: () => deps.queue.getJobCounts("waiting", "delayed", "prioritized", "active"),
      // Each probe takes and releases a lock of its own: a shared key made concurrent
      // probes fail one another.
      distributedLock: async () => {
        const key = deps.healthKey(randomUUID());
        const taken = await deps.redis.set(key, "1", "PX", 5000, "NX");
        if (taken !== "OK") throw new Error("health lock not taken");
        await deps.redis.del(key);
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

/**
 * Without auth: GET /health and GET /internal/health (API.md §Health); GET /readyz, the
 * same dependency checks for an orchestrator's readiness probe; GET /livez, 200 while
 * the process serves requests, calling no dependency (a liveness probe that failed
 * with the database would restart every instance during a database outage).
 */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  const handler = async (_request: unknown, reply: import("fastify").FastifyReply) => {
    const report = await checkHealth(deps);
    return reply.status(report.status).send(report.body);
  };
  app.get("/health", handler);
  app.get("/internal/health", handler);
  app.get("/readyz", handler);
  app.get("/livez", async () => ({ status: "alive" }));
}
