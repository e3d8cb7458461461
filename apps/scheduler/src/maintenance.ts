import type { Logger } from "@scheduler/core";
import { toError } from "@scheduler/core";
import { type Db, databaseNow, maintainPartitions, PARTITION_MONTHS_AHEAD } from "@scheduler/db";
import type { LeaderElector } from "./leader.js";

export interface MaintenanceOptions {
  db: Db;
  leader: Pick<LeaderElector, "isLeader">;
  /** EXECUTION_RETENTION_DAYS */
  retentionDays: number;
  /** PARTITION_MAINTENANCE_INTERVAL_MS: time between two runs of the same leader. */
  intervalMs: number;
  /** How often a follower looks whether it leads now; a new leader runs at once. (Default: 5000) */
  pollMs?: number;
  log: Logger;
  /** Called with the number of partitions a run dropped. */
  onDropped?: (count: number) => void;
}

/**
 * Partition maintenance by the leading scheduler (docs/history.md): as soon as an
 * instance leads, then every `intervalMs` while it does, creates the partitions of the
 * coming months and drops those older than the retention. Runs that fail (a lock
 * timeout, the database gone) are retried at the next poll. maintainPartitions takes an
 * advisory lock, so a deposed leader still finishing a run cannot interleave with its
 * successor's; it needs no fencing: both compute the same partitions from the database
 * clock.
 */
export class PartitionMaintenanceLoop {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();
  /** Monotonic time of the last successful run while leading; undefined when not leading. */
  private lastRunAt: number | undefined;

  constructor(private readonly options: MaintenanceOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.current = this.poll().finally(() => this.schedule(this.options.pollMs ?? 5000));
    }, delayMs);
  }

  private async poll(): Promise<void> {
    if (!this.options.leader.isLeader()) {
      this.lastRunAt = undefined;
      return;
    }
    const now = performance.now();
    if (this.lastRunAt !== undefined && now - this.lastRunAt < this.options.intervalMs) return;
    try {
      await this.runOnce();
      this.lastRunAt = now;
    } catch (error) {
      this.options.log.warn({ err: toError(error).message }, "partition maintenance failed");
    }
  }

  /** One maintenance run now, leader or not. */
  async runOnce(): Promise<{ created: string[]; dropped: string[] }> {
    const { db, retentionDays, log } = this.options;
    const result = await maintainPartitions(db, {
      now: await databaseNow(db),
      retentionDays,
      monthsAhead: PARTITION_MONTHS_AHEAD,
    });
    if (result.created.length > 0) log.info({ partitions: result.created }, "partitions created");
    if (result.dropped.length > 0) {
      log.info({ partitions: result.dropped, retentionDays }, "partitions dropped (retention)");
      this.options.onDropped?.(result.dropped.length);
    }
    return result;
  }
}
