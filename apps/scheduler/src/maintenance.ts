import type { Logger } from "@scheduler/core";
import { RepeatingTask } from "@scheduler/core";
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
  /** A poll every pollMs after the last one ended. */
  private readonly loop: RepeatingTask;
  /** Monotonic time of the last successful run while leading; undefined when not leading. */
  private lastRunAt: number | undefined;

  constructor(private readonly options: MaintenanceOptions) {
    this.loop = new RepeatingTask({
      run: () => this.poll(),
      intervalMs: options.pollMs ?? 5000,
      onError: (error) => options.log.warn({ err: error.message }, "partition maintenance failed"),
    });
  }

  start(): void {
    this.loop.start();
  }

  /** Stops polling and waits for a run in flight; idempotent. */
  async stop(): Promise<void> {
    await this.loop.stop();
  }

  /** A failed run leaves lastRunAt as it was: the next poll tries again. */
  private async poll(): Promise<void> {
    if (!this.options.leader.isLeader()) {
      this.lastRunAt = undefined;
      return;
    }
    const now = performance.now();
    if (this.lastRunAt !== undefined && now - this.lastRunAt < this.options.intervalMs) return;
    await this.runOnce();
    this.lastRunAt = now;
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
