import type { Logger, SchedulerHeartbeat } from "@scheduler/core";
import { RepeatingTask, toError } from "@scheduler/core";
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
  /** A beat every periodMs after the last one ended. */
  private readonly loop: RepeatingTask;

  constructor(private readonly options: HeartbeatOptions) {
    this.loop = new RepeatingTask({
      run: () => this.beat(),
      intervalMs: options.periodMs,
      onError: (error) => options.log.warn({ err: error.message }, "heartbeat failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops beating and removes this instance's heartbeat; idempotent. */
  async stop(): Promise<void> {
    if (!this.loop.isRunning()) return;
    await this.loop.stop();
    const { redis, key, indexKey, instance } = this.options;
    try {
      await redis.multi().del(key).zrem(indexKey, instance.id).exec();
    } catch (error) {
      this.options.log.warn({ err: toError(error).message }, "could not remove heartbeat");
    }
  }

  /** Writes one heartbeat now; rejects when Redis does not take it. */
  async beat(): Promise<void> {
    const { redis, key, indexKey, instance, leader, periodMs } = this.options;
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
    await redis
      .multi()
      .set(key, JSON.stringify(heartbeat), "PX", 3 * periodMs)
      .zadd(indexKey, now.getTime(), instance.id)
      .zremrangebyscore(indexKey, "-inf", now.getTime() - 3 * periodMs)
      .exec();
  }
}
