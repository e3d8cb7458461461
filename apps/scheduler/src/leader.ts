import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { type Failpoints, failpoint, type Logger, RepeatingTask, toError } from "@scheduler/core";
import {
  type Db,
  leadershipEpoch,
  recordLeadership,
  releaseLeadership,
  renewLeadership,
} from "@scheduler/db";
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
  /** Told of every acquisition attempt: `acquired`, `busy` (another leads) or `error`. */
  onAttempt?: (result: "acquired" | "busy" | "error") => void;
  /**
   * Told when a lock command timed out, or a renewal started after the leadership it
   * renews had lapsed (the instance was stalled longer than the lock allows).
   */
  onLockTimeout?: () => void;
  /** Fault-test failpoints; `leader.before_renew` is reached before each renewal. */
  failpoints?: Failpoints;
}

/**
 * Redis leader lock with a fencing epoch (docs/design.md §Leadership and fencing).
 *
 * - An instance leads only once its epoch is recorded in scheduler_locks: every claim
 *   checks that record (fenceClaim), so a leader whose record failed never claims, and
 *   once a new leader is recorded no claim of an older epoch can commit.
 * - The epoch is above the newest one PostgreSQL has seen, even if Redis lost its counter.
 * - The leader fences itself on a monotonic clock: `isLeader()` turns false once its
 *   last successful renewal was sent more than `ttl − margin` ago, before the lock can
 *   expire in Redis and another instance take it, whether or not Redis answers again.
 */
export class LeaderElector {
  private epochValue = 0;
  private validUntil = 0;
  /** A campaign round every renewMs after the last one ended. */
  private readonly loop: RepeatingTask;
  private readonly now: () => number;
  private readonly marginMs: number;

  constructor(private readonly options: LeaderOptions) {
    this.now = options.monotonicNow ?? (() => performance.now());
    this.marginMs = Math.max(Math.floor(options.ttlMs / 5), 100);
    this.loop = new RepeatingTask({
      run: () => this.round(),
      intervalMs: options.renewMs,
      onError: (error) => this.roundFailed(error),
    });
  }

  /** The fencing epoch of the current leadership, 0 when not leading. */
  get epoch(): number {
    return this.isLeader() ? this.epochValue : 0;
  }

  isLeader(): boolean {
    return this.epochValue > 0 && this.now() < this.validUntil;
  }

  start(): void {
    this.loop.start();
  }

  /** Stops campaigning and releases the lock if held; idempotent. */
  async stop(): Promise<void> {
    if (!this.loop.isRunning()) return;
    await this.loop.stop();
    if (this.epochValue > 0) await this.release(this.epochValue);
  }

  private lockValue(epoch: number): string {
    return `${this.options.instanceId}|${epoch}`;
  }

  /** One campaign step: renew when leading, else try to acquire. */
  private async round(): Promise<void> {
    if (this.epochValue > 0) await this.renew();
    else await this.acquire();
  }

  /** Redis or PostgreSQL slow or gone: keep trying; isLeader() turns false on its own. */
  private roundFailed(error: Error): void {
    // ioredis rejects a command that outlived its commandTimeout with this message only.
    if (error.message === "Command timed out") this.options.onLockTimeout?.();
    this.options.log.warn(
      { err: error.message, leading: this.isLeader() },
      "leader lock round failed",
    );
    if (this.epochValue > 0 && !this.isLeader()) {
      this.options.log.warn({ epoch: this.epochValue }, "stepping down: lock not renewed in time");
      this.epochValue = 0;
    }
  }

  private async acquire(): Promise<void> {
    const { redis, db, lockKey, epochKey, instanceId, ttlMs, log } = this.options;
    const recordedEpoch = await leadershipEpoch(db, lockKey);
    const sentAt = this.now();
    const epoch = Number(
      await redis.eval(ACQUIRE, 2, lockKey, epochKey, instanceId, ttlMs, recordedEpoch),
    );
    if (epoch === 0) {
      this.options.onAttempt?.("busy");
      return;
    }
    // Lead only once the epoch is recorded: a claim checks the record, not the Redis lock.
    let recorded = false;
    try {
      recorded = await recordLeadership(db, {
        lockKey,
        lockedBy: instanceId,
        epoch,
        expiresAt: new Date(Date.now() + ttlMs),
      });
    } catch (error) {
      log.warn({ err: toError(error).message, epoch }, "could not record leadership");
    }
    if (!recorded) {
      this.options.onAttempt?.("error");
      await redis.eval(RELEASE, 1, lockKey, this.lockValue(epoch));
      return;
    }
    this.epochValue = epoch;
    this.validUntil = sentAt + ttlMs - this.marginMs;
    this.options.onAttempt?.("acquired");
    log.info({ epoch }, "leadership acquired");
  }

  private async renew(): Promise<void> {
    const { redis, lockKey, ttlMs, log } = this.options;
    const epoch = this.epochValue;
    await failpoint(this.options.failpoints ?? new Map(), "leader.before_renew");
    const sentAt = this.now();
    if (sentAt >= this.validUntil) this.options.onLockTimeout?.();
    const extended = await redis.eval(EXTEND, 1, lockKey, this.lockValue(epoch), ttlMs);
    if (extended !== 1) {
      log.warn({ epoch }, "leadership lost");
      this.epochValue = 0;
      return;
    }
    this.validUntil = sentAt + ttlMs - this.marginMs;
    // Not awaited: a slow database must not delay the next Redis renewal.
    void this.renewRecord(epoch);
  }

  /** Moves the record's expiry for `/status`; steps down if a newer leader is recorded. */
  private async renewRecord(epoch: number): Promise<void> {
    const { db, lockKey, instanceId, ttlMs, log } = this.options;
    try {
      const held = await renewLeadership(db, {
        lockKey,
        lockedBy: instanceId,
        epoch,
        expiresAt: new Date(Date.now() + ttlMs),
      });
      if (!held && this.epochValue === epoch) {
        log.warn({ epoch }, "stepping down: a newer leader is recorded");
        this.epochValue = 0;
        await this.release(epoch);
      }
    } catch (error) {
      log.warn({ err: toError(error).message }, "could not renew the leadership record");
    }
  }

  private async release(epoch: number): Promise<void> {
    const { redis, db, lockKey, instanceId, log } = this.options;
    if (this.epochValue === epoch) this.epochValue = 0;
    try {
      await redis.eval(RELEASE, 1, lockKey, this.lockValue(epoch));
      await releaseLeadership(db, lockKey, instanceId, epoch);
      log.info({ epoch }, "leadership released");
    } catch (error) {
      log.warn({ err: toError(error).message }, "could not release leadership");
    }
  }
}
