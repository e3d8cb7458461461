import type { HealthReport } from "@scheduler/core";
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

const CHECK_TIMEOUT_MS = 2000;

/** Resolves to the probe's value, or rejects when it fails or takes too long. */
function bounded<T>(probe: () => Promise<T>): Promise<T> {
  return Promise.race([
    probe(),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("timed out")), CHECK_TIMEOUT_MS).unref(),
    ),
  ]);
}

/** The dependency checks of API.md §Health: 200 when all pass, 503 otherwise. */
export async function checkHealth(deps: HealthDeps): Promise<HealthReport> {
  const [database, redis, counts, lock] = await Promise.allSettled([
    bounded(() => countActiveJobs(deps.db)),
    bounded(() => deps.redis.ping()),
    bounded(() => deps.queue.getJobCounts("waiting", "delayed", "prioritized", "active")),
    bounded(async () => {
      const token = `${process.pid}-${Date.now()}`;
      const taken = await deps.redis.set(deps.healthKey, token, "PX", 5000, "NX");
      if (taken !== "OK") throw new Error("health lock held");
      await deps.redis.del(deps.healthKey);
    }),
  ]);
  const dependencies = {
    database: database.status === "fulfilled",
    redis: redis.status === "fulfilled",
    jobQueue: counts.status === "fulfilled",
    distributedLock: lock.status === "fulfilled",
  };
  const healthy = Object.values(dependencies).every(Boolean);
  const queueSize =
    counts.status === "fulfilled"
      ? (counts.value.waiting ?? 0) + (counts.value.delayed ?? 0) + (counts.value.prioritized ?? 0)
      : null;
  return {
    status: healthy ? 200 : 503,
    body: {
      status: healthy ? "healthy" : "unhealthy",
      service: "scheduler-service",
      port: deps.port,
      dependencies,
      metrics: {
        activeJobs: database.status === "fulfilled" ? database.value : null,
        queueSize,
        memoryUsage: process.memoryUsage().heapUsed,
      },
    },
  };
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
