import {
  type Failpoints,
  failpoint,
  type Logger,
  scheduledExecutionId,
  toError,
} from "@scheduler/core";
import {
  advanceJobs,
  claimDueJobs,
  countInFlightExecutions,
  type Db,
  type DueJob,
  fenceClaim,
  insertSlotExecutions,
  type JobAdvance,
  type RecordedSlot,
  type SlotExecution,
} from "@scheduler/db";
import { planSlots, type SlotPlan } from "./plan.js";
import type { ScheduleCache } from "./scheduleCache.js";

export interface ClaimOptions {
  db: Db;
  lockKey: string;
  batchSize: number;
  lookaheadMs: number;
  misfireThresholdMs: number;
  schedules: ScheduleCache;
  failpoints: Failpoints;
  log: Logger;
}

/** What one claim transaction committed. */
export interface ClaimedBatch {
  /** Executions recorded pending: to enqueue now that the transaction committed. */
  executions: RecordedSlot[];
  /** API priority of each claimed job, by job id. */
  priorities: Map<string, number>;
  /** Jobs claimed; fewer than the batch size means nothing else is due. */
  jobCount: number;
  /** Executions recorded skipped. */
  skipped: number;
  /** Database clock of the claim. */
  now: Date;
  /** The oldest slot among the claimed jobs, null when none was claimed. */
  oldestSlotAt: Date | null;
}

/** A claim whose leader epoch is no longer the recorded one: it rolled back. */
class FencedError extends Error {
  override name = "FencedError";
}

/**
 * One claim transaction (docs/design.md, a run end to end, step 2): check the epoch is the recorded leader's,
 * lock up to a batch of due jobs, record one execution per slot (pending, or skipped by
 * maxConcurrent) and advance each job with a compare-and-set. Null when fenced.
 */
export async function claimBatch(
  options: ClaimOptions,
  epoch: number,
): Promise<ClaimedBatch | null> {
  const { db, lockKey, batchSize, lookaheadMs, failpoints } = options;
  try {
    return await db.transaction(async (tx) => {
      const now = await fenceClaim(tx, lockKey, epoch);
      if (now === null) throw new FencedError();
      const due = await claimDueJobs(tx, new Date(now.getTime() + lookaheadMs), batchSize);
      // Only a job with a slot already due can have one that starts at once (plan.ts).
      const dueNow = due.filter((j) => j.nextExecutionAt <= now).map((j) => j.id);
      const inFlight = await countInFlightExecutions(tx, dueNow, now);
      const { rows, advances } = planBatch(options, due, now, inFlight);
      const inserted = await insertSlotExecutions(tx, rows);
      await advanceJobs(tx, advances);
      if (rows.length > 0) await failpoint(failpoints, "tick.before_commit");
      const executions = inserted.filter((e) => e.status === "pending");
      return {
        executions,
        priorities: new Map(due.map((j) => [j.id, j.priority])),
        jobCount: due.length,
        skipped: inserted.length - executions.length,
        now,
        oldestSlotAt: due[0]?.nextExecutionAt ?? null,
      };
    });
  } catch (error) {
    if (error instanceof FencedError) {
      options.log.warn({ epoch }, "claim fenced: this epoch is not the recorded leader");
      return null;
    }
    throw error;
  }
}

/** The execution rows and job advances of a claimed batch. */
function planBatch(
  options: ClaimOptions,
  due: DueJob[],
  now: Date,
  inFlight: Map<string, number>,
): { rows: SlotExecution[]; advances: JobAdvance[] } {
  const rows: SlotExecution[] = [];
  const advances: JobAdvance[] = [];
  for (const job of due) {
    const plan = planJob(options, job, now, inFlight.get(job.id) ?? 0);
    rows.push(...executionRows(job, plan));
    advances.push({
      id: job.id,
      expectedAt: job.nextExecutionAt,
      nextExecutionAt: plan.nextExecutionAt,
      lastExecutionAt: plan.fire.at(-1) ?? job.nextExecutionAt,
      fired: plan.fire.length,
      status: plan.status,
    });
  }
  return { rows, advances };
}

/**
 * The job's plan. A job whose schedule no longer parses (its cron or zone became
 * invalid) would fail every claim that holds it, stalling its whole batch: it is made
 * inactive instead, with nothing recorded, and logged.
 */
function planJob(options: ClaimOptions, job: DueJob, now: Date, inFlight: number): SlotPlan {
  const { schedules, lookaheadMs, misfireThresholdMs, log } = options;
  try {
    const schedule = schedules.schedule(job.cronExpression, job.timezone);
    return planSlots(job, (after) => schedules.nextFireTime(schedule, after), {
      now,
      lookaheadMs,
      misfireThresholdMs,
      inFlight,
    });
  } catch (error) {
    log.error(
      { jobId: job.id, tenantId: job.tenantId, err: toError(error).message },
      "job schedule unusable: job made inactive",
    );
    return { fire: [], skip: [], nextExecutionAt: null, status: "inactive" };
  }
}

function executionRows(job: DueJob, plan: SlotPlan): SlotExecution[] {
  const row = (scheduledAt: Date, errorMessage: string | null = null): SlotExecution => ({
    jobId: job.id,
    tenantId: job.tenantId,
    executionId: scheduledExecutionId(job.id, scheduledAt),
    scheduledAt,
    status: errorMessage === null ? "pending" : "skipped",
    errorMessage,
  });
  return [...plan.fire.map((at) => row(at)), ...plan.skip.map((s) => row(s.at, s.reason))];
}
