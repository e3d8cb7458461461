import type { Logger, SchedulerHeartbeat } from "@scheduler/core";
import { toError } from "@scheduler/core";
import type { Redis } from "ioredis";
import type { LeaderElector } from "./leader.js";

export interface HeartbeatOptions {
  redis: Redis;
  /** `redisKeys(prefix).schedulerHeartbeat(id)` */
  key: string;
  /** `redisKeys(prefix).schedulersIndex` */
  indexKey: string;
  instance: { id: string; host: string; pid: number; startedAt: Date };
  leader: Pick<LeaderElector, "epoch" | "isLeader">;
  /** Period in ms; the key expires after three. */
  periodMs: number;
  log: Logger;
}

/**
 * Every scheduler instance, leader or follower, says it is alive (for `/status`): a
 * JSON SchedulerHeartbeat under its own key, expiring after three periods, and its id
 * in a ZSET scored by the beat's time. Ids whose beat is older than three periods are
 * dropped from the ZSET by whoever beats next.
 */
export class SchedulerHeartbeatLoop {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();

  constructor(private readonly options: HeartbeatOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops beating and removes this instance's heartbeat; idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
    const { redis, key, indexKey, instance } = this.options;
    try {
      await redis.multi().del(key).zrem(indexKey, instance.id).exec();
    } catch (error) {
      this.options.log.warn({ err: toError(error).message }, "could not remove heartbeat");
    }
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.current = this.beat().finally(() => this.schedule(this.options.periodMs));
    }, delayMs);
  }

  /** Writes one heartbeat now. */
  async beat(): Promise<void> {
    const { redis, key, indexKey, instance, leader, periodMs, log } = this.options;
    const now = new Date();
    const heartbeat: SchedulerHeartbeat = {
      id: instance.id,
      host: instance.host,
      pid: instance.pid,
      startedAt: instance.startedAt.toISOString(),
      lastHeartbeatAt: now.toISOString(),
      leader: leader.isLeader(),
      epoch: leader.epoch,
      heartbeatMs: periodMs,
    };
    try {
      await redis
        .multi()
        .set(key, JSON.stringify(heartbeat), "PX", 3 * periodMs)
        .zadd(indexKey, now.getTime(), instance.id)
        .zremrangebyscore(indexKey, "-inf", now.getTime() - 3 * periodMs)
        .exec();
    } catch (error) {
      log.warn({ err: toError(error).message }, "heartbeat failed");
    }
  }
}
