import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { Logger } from "@scheduler/core";
import { type Db, recordLeadership, releaseLeadership } from "@scheduler/db";
import type { Redis } from "ioredis";

const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), "utf8");
const ACQUIRE = lua("acquireLeaderLock-2.lua");
const EXTEND = lua("extendLeaderLock-1.lua");
const RELEASE = lua("releaseLeaderLock-1.lua");

export interface LeaderOptions {
  redis: Redis;
  db: Db;
  log: Logger;
  instanceId: string;
  lockKey: string;
  epochKey: string;
  ttlMs: number;
  /** How often to renew (leader) or try to acquire (follower). (Default: ttl / 3) */
  renewMs: number;
  /** Monotonic clock in ms; a test may pass its own. */
  monotonicNow?: () => number;
}

/**
 * Redis leader lock with a fencing epoch (DESIGN.md §Leadership). The leader fences
 * itself on a monotonic clock: `isLeader()` turns false once its last successful
 * renewal was sent more than `ttl − margin` ago, before the lock can expire in Redis
 * and another instance take it, whether or not Redis ever answers again.
 */
export class LeaderElector {
  private epochValue = 0;
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private inFlight: Promise<void> = Promise.resolve();
  private readonly now: () => number;
  private readonly marginMs: number;

  constructor(private readonly options: LeaderOptions) {
    this.now = options.monotonicNow ?? (() => performance.now());
    this.marginMs = Math.max(Math.floor(options.ttlMs / 5), 100);
  }

  /** The fencing epoch of the current leadership, 0 when not leading. */
  get epoch(): number {
    return this.isLeader() ? this.epochValue : 0;
  }

  isLeader(): boolean {
    return this.epochValue > 0 && this.now() < this.validUntil;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops campaigning and releases the lock if held; idempotent. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.inFlight;
    if (this.epochValue > 0) await this.release();
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.round().finally(() => this.schedule(this.options.renewMs));
    }, delayMs);
  }

  private get lockValue(): string {
    return `${this.options.instanceId}|${this.epochValue}`;
  }

  /** One campaign step: renew when leading, else try to acquire. */
  private async round(): Promise<void> {
    const { redis, lockKey, epochKey, ttlMs, log } = this.options;
    const sentAt = this.now();
    try {
      if (this.epochValue > 0) {
        const extended = await redis.eval(EXTEND, 1, lockKey, this.lockValue, ttlMs);
        if (extended === 1) {
          this.validUntil = sentAt + ttlMs - this.marginMs;
          await this.mirror();
          return;
        }
        log.warn({ epoch: this.epochValue }, "leadership lost");
        this.epochValue = 0;
        return;
      }
      const epoch = Number(
        await redis.eval(ACQUIRE, 2, lockKey, epochKey, this.options.instanceId, ttlMs),
      );
      if (epoch > 0) {
        this.epochValue = epoch;
        this.validUntil = sentAt + ttlMs - this.marginMs;
        log.info({ epoch }, "leadership acquired");
        await this.mirror();
      }
    } catch (error) {
      // Redis slow or gone: keep trying; isLeader() turns false on its own in time.
      log.warn(
        { err: (error as Error).message, leading: this.isLeader() },
        "leader lock round failed",
      );
      if (this.epochValue > 0 && !this.isLeader()) {
        log.warn({ epoch: this.epochValue }, "stepping down: lock not renewed in time");
        this.epochValue = 0;
      }
    }
  }

  /** Best effort: `/status` reads leadership from scheduler_locks. */
  private async mirror(): Promise<void> {
    const { db, lockKey, instanceId, ttlMs, log } = this.options;
    try {
      await recordLeadership(db, {
        lockKey,
        lockedBy: instanceId,
        epoch: this.epochValue,
        expiresAt: new Date(Date.now() + ttlMs),
      });
    } catch (error) {
      log.warn({ err: (error as Error).message }, "could not record leadership");
    }
  }

  private async release(): Promise<void> {
    const { redis, db, lockKey, instanceId, log } = this.options;
    const epoch = this.epochValue;
    const value = this.lockValue;
    this.epochValue = 0;
    try {
      await redis.eval(RELEASE, 1, lockKey, value);
      await releaseLeadership(db, lockKey, instanceId, epoch);
      log.info({ epoch }, "leadership released");
    } catch (error) {
      log.warn({ err: (error as Error).message }, "could not release leadership");
    }
  }
}
