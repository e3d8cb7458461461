import { readFileSync } from "node:fs";
import { type Logger, RepeatingTask, type redisKeys, toError } from "@scheduler/core";
import type { Redis } from "ioredis";

const lua = (name: string) => readFileSync(new URL(`./lua/${name}`, import.meta.url), "utf8");
const ADMIT = lua("admitExecution-6.lua");
const PARK = lua("parkExecution-2.lua");
const RELEASE = lua("releaseExecution-5.lua");

/** Longest a turned-away delivery waits in its worker for a slot before it is parked, in ms. */
const HOLD_MS = 1000;
/** Most parked queue jobs one release or refresh promotes. */
const MOST_PROMOTED = 20;
/** A parked job no release promoted is delivered again after its wait so far, within these bounds, in ms. */
const PARK_MIN_MS = 10_000;
const PARK_MAX_MS = 60_000;

export interface FairShareOptions {
  redis: Redis;
  keys: ReturnType<typeof redisKeys>;
  workerId: string;
  /** This worker's running slots (WORKER_CONCURRENCY); the cluster's are the live workers' sum. */
  slots: number;
  /** A lease not renewed for this long counts no more (its worker died), in ms. */
  leaseMs: number;
  /** Operator weights, 'tenant=weight,…'; a tenant not named weighs 1. */
  weights: string;
  /** Most executions one tenant runs at once over all workers; 0 for no cap. */
  maxPerTenant: number;
  /**
   * Executions past `slots` this worker may run for tenants at or over their share while
   * no tenant running less waits: a lone tenant, or equal tenants in a burst, use them
   * instead of waiting. Keep it below the headroom: the rest is for tenants under their
   * share. (Default: 0)
   */
  overflow?: number;
  /**
   * Turned-away deliveries that may wait in this worker for one of its executions to end
   * (then asking again) before being parked; keep it below the headroom, so that a
   * tenant under its share always finds a queue slot.
   */
  maxWaiting: number;
  /** Moves a parked queue job from delayed to waiting; a job no longer delayed is left alone. */
  promote: (queueJobId: string) => Promise<void>;
  log: Logger;
}

/**
 * The worker's side of tenant fairness (docs/fairness.md): admission of each delivered
 * execution against its tenant's share of the cluster's slots, the lease that counts it
 * running, and, when a lease ends, the promotion of parked queue jobs into the slots
 * that are free, tenant by tenant.
 */
export class FairShare {
  /** Execution ids this worker holds leases for. */
  private readonly held = new Set<string>();
  /** Deliveries waiting in this worker to ask again, woken one per release. */
  private readonly waiting: Array<() => void> = [];
  private readonly refresher: RepeatingTask;

  constructor(private readonly options: FairShareOptions) {
    // The task's first run comes at once; start() has just done it.
    let started = false;
    this.refresher = new RepeatingTask({
      run: async () => {
        if (started) await this.refresh();
        started = true;
      },
      intervalMs: Math.max(100, Math.floor(options.leaseMs / 3)),
      onError: (error) => options.log.warn({ err: error.message }, "fair-share refresh failed"),
    });
  }

  /** Registers this worker's slots, then renews them and its leases every leaseMs/3. */
  async start(): Promise<void> {
    await this.refresh();
    this.refresher.start();
  }

  async stop(): Promise<void> {
    await this.refresher.stop();
    const { redis, keys } = this.options;
    await redis.zrem(keys.fairWorkers, this.workerMember());
  }

  /** True when the execution may run now (it is then leased); false when it is to be parked. */
  async admit(tenantId: string, executionId: string, queueJobId: string): Promise<boolean> {
    const { redis, keys, leaseMs, weights, maxPerTenant, log } = this.options;
    const admitted = await redis
      .eval(
        ADMIT,
        6,
        keys.fairLeases,
        keys.fairLeaseTenants,
        keys.fairRunning,
        keys.fairWorkers,
        keys.fairParkedCounts,
        keys.fairParked(tenantId),
        tenantId,
        executionId,
        queueJobId,
        Date.now(),
        leaseMs,
        weights,
        maxPerTenant,
        this.held.size < this.options.slots + (this.options.overflow ?? 0) ? "1" : "0",
      )
      .catch((error) => {
        // Unfair beats lost: without Redis's answer the execution runs, unleased.
        log.warn(
          { executionRowId: executionId, err: toError(error).message },
          "not admitted; runs",
        );
        return 2;
      });
    if (admitted === 1) this.held.add(executionId);
    return admitted !== 0;
  }

  /**
   * admit(), and when turned away, waits here for executions of this worker to end,
   * asking again after each, for up to HOLD_MS while fewer than maxWaiting wait: in a
   * burst of equal tenants most turned-away deliveries get a slot that way and are never
   * parked. False when the delivery is to be parked.
   */
  async admitOrWait(tenantId: string, executionId: string, queueJobId: string): Promise<boolean> {
    if (await this.admit(tenantId, executionId, queueJobId)) return true;
    const deadline = Date.now() + HOLD_MS;
    while (this.waiting.length < this.options.maxWaiting && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          const at = this.waiting.indexOf(wake);
          if (at >= 0) this.waiting.splice(at, 1);
          resolve();
        };
        const timer = setTimeout(wake, deadline - Date.now());
        this.waiting.push(wake);
      });
      if (await this.admit(tenantId, executionId, queueJobId)) return true;
    }
    return false;
  }

  /** Records a queue job turned away and already delayed, waiting since `waitingSince`. */
  async park(tenantId: string, queueJobId: string, waitingSince: Date): Promise<void> {
    const { redis, keys } = this.options;
    await redis.eval(
      PARK,
      2,
      keys.fairParkedCounts,
      keys.fairParked(tenantId),
      tenantId,
      queueJobId,
      waitingSince.getTime(),
    );
  }

  /** How long a parked job stays delayed unless promoted: its wait so far, bounded. */
  parkDelayMs(waitingSince: Date): number {
    const waitedMs = Date.now() - waitingSince.getTime();
    return Math.min(PARK_MAX_MS, Math.max(PARK_MIN_MS, waitedMs));
  }

  /** Ends the execution's lease and promotes parked jobs into the free slots. */
  async release(executionId: string): Promise<void> {
    this.held.delete(executionId);
    try {
      await this.promoteParked(executionId);
    } finally {
      this.waiting[0]?.();
    }
  }

  private async promoteParked(executionId: string): Promise<void> {
    const { redis, keys, weights, maxPerTenant, promote, log } = this.options;
    const ids = (await redis.eval(
      RELEASE,
      5,
      keys.fairLeases,
      keys.fairLeaseTenants,
      keys.fairRunning,
      keys.fairWorkers,
      keys.fairParkedCounts,
      executionId,
      Date.now(),
      weights,
      maxPerTenant,
      keys.fairParkedPrefix,
      MOST_PROMOTED,
    )) as string[];
    // Not awaited: the delivery that ended need not hold its queue slot for these.
    for (const id of ids) {
      promote(id).catch((error) =>
        log.debug({ queueJobId: id, err: toError(error).message }, "parked job not promoted"),
      );
    }
  }

  /** Seconds the oldest parked execution of any tenant has waited; 0 when none waits. */
  async longestWaitSeconds(): Promise<number> {
    const { redis, keys } = this.options;
    const tenants = await redis.hkeys(keys.fairParkedCounts);
    let oldest = Number.POSITIVE_INFINITY;
    for (const tenant of tenants) {
      const [, since] = await redis.zrange(keys.fairParked(tenant), 0, 0, "WITHSCORES");
      if (since !== undefined) oldest = Math.min(oldest, Number(since));
    }
    return oldest === Number.POSITIVE_INFINITY ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
  }

  private workerMember(): string {
    return `${this.options.workerId}|${this.options.slots}`;
  }

  /** Renews this worker's slots and leases; promotes parked jobs should slots be free. */
  private async refresh(): Promise<void> {
    const { redis, keys, leaseMs } = this.options;
    const until = Date.now() + leaseMs;
    const multi = redis.multi().zadd(keys.fairWorkers, until, this.workerMember());
    if (this.held.size > 0) {
      const pairs = [...this.held].flatMap((id) => [until, id]);
      multi.zadd(keys.fairLeases, "XX", ...pairs);
    }
    await multi.exec();
    await this.promoteParked("");
  }
}
