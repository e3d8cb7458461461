import {
  type ExecutionMessage,
  type Logger,
  parseCron,
  queueJobId,
  scheduledExecutionId,
} from "@scheduler/core";
import {
  advanceJobs,
  claimDueJobs,
  type Db,
  databaseNow,
  type ExecutionRow,
  findStalePendingExecutions,
  holdsCurrentEpoch,
  insertExecutions,
  type JobAdvance,
  type NewExecution,
} from "@scheduler/db";
import type { JobsOptions, Queue } from "bullmq";
import type { LeaderElector } from "./leader.js";
import { planSlots } from "./plan.js";

export interface TickOptions {
  db: Db;
  queue: Queue<ExecutionMessage>;
  leader: Pick<LeaderElector, "epoch" | "isLeader">;
  lockKey: string;
  log: Logger;
  tickMs: number;
  lookaheadMs: number;
  batchSize: number;
  misfireThresholdMs: number;
  reconcileIntervalMs: number;
}

/** A claim whose leader epoch is no longer current: it rolled back and changed nothing. */
class FencedError extends Error {
  override name = "FencedError";
}

/** Queue options of every execution: retries happen inside the execution, not in BullMQ. */
const QUEUE_JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
};

/** The queue job of one execution, due `delayMs` from now. */
function queueJobFor(
  e: Pick<ExecutionRow, "id" | "jobId" | "tenantId" | "executionId">,
  delayMs: number,
) {
  return {
    name: "execute",
    data: { executionRowId: e.id, jobId: e.jobId, tenantId: e.tenantId },
    opts: { ...QUEUE_JOB_OPTIONS, jobId: queueJobId(e.executionId), delay: delayMs },
  };
}

/** What a claim recorded, to be enqueued after its transaction commits. */
type Claimed = ExecutionRow[];

/**
 * The leader's loop (DESIGN.md step 2): every tick, claim due jobs in batches, record
 * their slots and advance them in one transaction, then enqueue each new execution
 * with a delay to its exact slot. Followers tick too but do nothing.
 */
export class Ticker {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private current: Promise<void> = Promise.resolve();
  private lastReconcileAt = 0;

  constructor(private readonly options: TickOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Stops ticking and waits for the tick in flight; idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.current;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      const startedAt = Date.now();
      this.current = this.tick()
        .catch((error: Error) => this.options.log.error({ err: error }, "tick failed"))
        .finally(() => this.schedule(Math.max(0, this.options.tickMs - (Date.now() - startedAt))));
    }, delayMs);
  }

  /** One tick: claim until nothing is due, then reconcile if it is time. */
  async tick(): Promise<void> {
    if (!this.options.leader.isLeader()) return;
    for (;;) {
      const claimed = await this.claimBatch();
      if (claimed === null) return;
      await this.enqueue(claimed.executions);
      if (claimed.jobCount < this.options.batchSize) break;
    }
    if (Date.now() - this.lastReconcileAt >= this.options.reconcileIntervalMs) {
      this.lastReconcileAt = Date.now();
      await this.reconcile();
    }
  }

  /** One transaction: fence, claim, record slots, advance. Null when fenced. */
  private async claimBatch(): Promise<{ executions: Claimed; jobCount: number } | null> {
    const { db, lockKey, leader, batchSize, lookaheadMs, misfireThresholdMs, log } = this.options;
    const epoch = leader.epoch;
    if (epoch === 0) return null;
    try {
      return await db.transaction(async (tx) => {
        if (!(await holdsCurrentEpoch(tx, lockKey, epoch))) throw new FencedError();
        const now = await databaseNow(tx);
        const due = await claimDueJobs(tx, new Date(now.getTime() + lookaheadMs), batchSize);
        const rows: NewExecution[] = [];
        const advances: JobAdvance[] = [];
        for (const job of due) {
          const plan = planSlots(job, parseCron(job.cronExpression, job.timezone), {
            now,
            lookaheadMs,
            misfireThresholdMs,
          });
          for (const slot of plan.fire) {
            rows.push({
              jobId: job.id,
              tenantId: job.tenantId,
              executionId: scheduledExecutionId(job.id, slot),
              triggerType: "scheduled",
              status: "pending",
              scheduledAt: slot,
            });
          }
          advances.push({
            id: job.id,
            expectedAt: job.nextExecutionAt,
            nextExecutionAt: plan.nextExecutionAt,
            lastExecutionAt: plan.fire.at(-1) ?? job.nextExecutionAt,
            fired: plan.fire.length,
            status: plan.status,
          });
        }
        const executions = await insertExecutions(tx, rows);
        await advanceJobs(tx, advances);
        return { executions, jobCount: due.length };
      });
    } catch (error) {
      if (error instanceof FencedError) {
        log.warn({ epoch }, "claim fenced: a newer leader exists");
        return null;
      }
      throw error;
    }
  }

  /** After commit: a crash before this line is repaired by reconcile(). */
  private async enqueue(executions: Claimed): Promise<void> {
    if (executions.length === 0) return;
    const nowMs = Date.now();
    await this.options.queue.addBulk(
      executions.map((e) => queueJobFor(e, Math.max(0, e.scheduledAt.getTime() - nowMs))),
    );
    for (const e of executions) {
      this.options.log.debug(
        { jobId: e.jobId, executionId: e.executionId, scheduledAt: e.scheduledAt },
        "execution enqueued",
      );
    }
  }

  /**
   * Pending executions whose slot passed a while ago and may have no queue job (the
   * leader died between commit and enqueue): enqueue them again. The queue job id is
   * the execution's, so one that is still queued is not added twice.
   */
  private async reconcile(): Promise<void> {
    const stale = await findStalePendingExecutions(this.options.db, 5000, 1000);
    if (stale.length === 0) return;
    await this.options.queue.addBulk(stale.map((e) => queueJobFor(e, 0)));
    this.options.log.info({ count: stale.length }, "pending executions re-enqueued");
  }
}
