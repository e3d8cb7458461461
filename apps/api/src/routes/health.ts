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

/** GET /health and GET /internal/health (API.md §Health): 200 healthy, 503 not. */
export async function healthRoutes(app: FastifyInstance, deps: HealthDeps): Promise<void> {
  const handler = async (_request: unknown, reply: import("fastify").FastifyReply) => {
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
        ? (counts.value.waiting ?? 0) +
          (counts.value.delayed ?? 0) +
          (counts.value.prioritized ?? 0)
        : null;
    return reply.status(healthy ? 200 : 503).send({
      status: healthy ? "healthy" : "unhealthy",
      service: "scheduler-service",
      port: deps.port,
      dependencies,
      metrics: {
        activeJobs: database.status === "fulfilled" ? database.value : null,
        queueSize,
        memoryUsage: process.memoryUsage().heapUsed,
      },
    });
  };
  app.get("/health", handler);
  app.get("/internal/health", handler);
}
