import type { Logger, WorkerHeartbeat } from "@scheduler/core";
import type { Redis } from "ioredis";
import type { WorkerStats } from "./consumer.js";

/** Index entries older than this are dropped, so GET /workers does not list long-dead workers forever. */
const INDEX_RETENTION_MS = 60 * 60 * 1000;

export interface HeartbeatOptions {
  redis: Redis;
  /** `redisKeys(prefix).workerHeartbeat(id)` */
  key: string;
  /** `redisKeys(prefix).workersIndex` */
  indexKey: string;
  identity: Pick<WorkerHeartbeat, "id" | "host" | "pid" | "concurrency" | "startedAt">;
  intervalMs: number;
  stats: WorkerStats;
  log: Logger;
}

/**
 * Writes this worker's WorkerHeartbeat every `intervalMs`, expiring after three periods,
 * and scores its id in the workers index with the time of the beat. `stop()` removes
 * both: a worker that shut down cleanly is not listed as dead.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: HeartbeatOptions) {}

  /** Writes the first beat (so the worker is listed before it takes work), then keeps beating. */
  async start(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => {
      this.beat().catch((error: Error) =>
        this.options.log.warn({ err: error.message }, "heartbeat not written"),
      );
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    const { redis, key, indexKey, identity } = this.options;
    await redis.multi().del(key).zrem(indexKey, identity.id).exec();
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const { redis, key, indexKey, identity, intervalMs, stats } = this.options;
    const now = Date.now();
    const heartbeat: WorkerHeartbeat = {
      ...identity,
      active: stats.active,
      processed: stats.processed,
      failed: stats.failed,
      lastHeartbeatAt: new Date(now).toISOString(),
      heartbeatMs: intervalMs,
    };
    await redis
      .multi()
      .set(key, JSON.stringify(heartbeat), "PX", 3 * intervalMs)
      .zadd(indexKey, now, identity.id)
      .zremrangebyscore(indexKey, "-inf", now - INDEX_RETENTION_MS)
      .exec();
  }
}

/** Ids of the workers whose heartbeat has not expired. */
export async function liveWorkerIds(
  redis: Redis,
  indexKey: string,
  keyOf: (id: string) => string,
): Promise<string[]> {
  const ids = await redis.zrangebyscore(indexKey, Date.now() - INDEX_RETENTION_MS, "+inf");
  if (ids.length === 0) return [];
  const exists = await Promise.all(ids.map((id) => redis.exists(keyOf(id))));
  return ids.filter((_, i) => exists[i] === 1);
}
