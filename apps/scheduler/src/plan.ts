import type { MisfirePolicy } from "@scheduler/core";
import type { DueJob } from "@scheduler/db";

/** fire_all catches up at most this many missed slots (API.md: the 100 most recent). */
export const FIRE_ALL_CAP = 100;

/** A job's schedule: its first fire time strictly after `after`, null when none is left. */
export type NextFireTime = (after: Date) => Date | null;

export interface PlanOptions {
  /** Database clock at the claim. */
  now: Date;
  /** Slots up to now + lookahead are fired (recorded now, enqueued for their second). */
  lookaheadMs: number;
  /** A slot older than this when found is a misfire, handled by the job's policy. */
  misfireThresholdMs: number;
  /**
   * The job's executions in flight at the claim: running, or pending with a slot already
   * passed. (Default: 0)
   */
  inFlight?: number;
}

export interface SkippedSlot {
  at: Date;
  /** Why, for the execution's error_message. */
  reason: string;
}

export interface SlotPlan {
  /** Slots to record as pending executions and enqueue, ascending. */
  fire: Date[];
  /** Slots to record as skipped executions (maxConcurrent), ascending. */
  skip: SkippedSlot[];
  nextExecutionAt: Date | null;
  status: "active" | "inactive";
}

/** How many missed slots each policy keeps. */
const KEPT_MISSED: Record<MisfirePolicy, number> = {
  fire_once: 1,
  skip: 0,
  fire_all: FIRE_ALL_CAP,
};

/**
 * Decides what one claimed job records: every slot from its next_execution_at (not
 * before startDate) up to now + lookahead. Slots older than the misfire threshold (no
 * scheduler ran) follow misfirePolicy: fire_once keeps the most recent one, skip none,
 * fire_all the 100 most recent. Slots due at the claim (≤ now) start at once, together:
 * of those, only as many as maxConcurrent minus the job's executions in flight fire, the
 * newest, and the older ones are recorded skipped. Slots still ahead are left to the
 * worker's check when they start (docs/decisions.md). endDate and maxExecutions
 * (counting fired slots, not skipped ones) end the job.
 */
export function planSlots(job: DueJob, next: NextFireTime, options: PlanOptions): SlotPlan {
  const { slots, after, ended: scheduleEnded } = dueSlots(job, next, options);
  const inFlight = options.inFlight ?? 0;
  // Slots are ascending, so those due at once come first; the newest of them run.
  const dueAtOnce = slots.filter((at) => at <= options.now).length;
  const skipped = Math.max(0, dueAtOnce - Math.max(0, job.maxConcurrent - inFlight));
  const reason = `skipped: maxConcurrent ${job.maxConcurrent} reached (${inFlight} execution(s) of this job in flight, ${dueAtOnce} slot(s) due at once)`;
  let remaining =
    job.maxExecutions === null
      ? Number.POSITIVE_INFINITY
      : Math.max(0, job.maxExecutions - job.executionCount);
  let ended = scheduleEnded || remaining === 0;
  const fire: Date[] = [];
  const skip: SkippedSlot[] = [];
  for (const [index, at] of slots.entries()) {
    if (remaining === 0) break;
    if (index < skipped) {
      skip.push({ at, reason });
      continue;
    }
    fire.push(at);
    remaining -= 1;
  }
  if (remaining === 0) ended = true;
  return {
    fire,
    skip,
    nextExecutionAt: ended ? null : after,
    status: ended ? "inactive" : "active",
  };
}

/**
 * The slots a claim covers, ascending, after the misfire policy; the first slot after
 * them; and whether the schedule has ended (no slot left before endDate).
 */
function dueSlots(
  job: DueJob,
  next: NextFireTime,
  options: PlanOptions,
): { slots: Date[]; after: Date | null; ended: boolean } {
  const dueBefore = options.now.getTime() + options.lookaheadMs;
  const lateBefore = new Date(options.now.getTime() - options.misfireThresholdMs);
  const endMs = job.endDate?.getTime() ?? Number.POSITIVE_INFINITY;

  let slot: Date | null = job.nextExecutionAt;
  // The API starts a job at its startDate; a row stored otherwise still fires nothing before it.
  if (job.startDate && slot < job.startDate) slot = next(new Date(job.startDate.getTime() - 1));
  let slots: Date[] = [];
  if (slot && slot < lateBefore) {
    const kept = KEPT_MISSED[job.misfirePolicy as MisfirePolicy] ?? 1;
    const missedBefore = new Date(Math.min(lateBefore.getTime(), endMs + 1));
    slots = recentSlots(next, slot, missedBefore, kept);
    slot = next(new Date(lateBefore.getTime() - 1));
  }
  while (slot && slot.getTime() <= dueBefore && slot.getTime() <= endMs) {
    slots.push(slot);
    slot = next(slot);
  }
  return { slots, after: slot, ended: slot === null || slot.getTime() > endMs };
}

/**
 * The last `count` fire times in [from, before), found without walking the whole
 * range: a window ending at `before` doubles until it holds `count` slots or reaches
 * `from`, so a years-long outage of an every-second job costs a few hundred steps.
 */
export function recentSlots(next: NextFireTime, from: Date, before: Date, count: number): Date[] {
  if (count <= 0 || from >= before) return [];
  for (let windowMs = 1000; ; windowMs *= 2) {
    const start = Math.max(from.getTime(), before.getTime() - windowMs);
    const found: Date[] = [];
    let slot = next(new Date(start - 1));
    while (slot && slot < before) {
      found.push(slot);
      if (found.length > count) found.shift();
      slot = next(slot);
    }
    if (found.length >= count || start === from.getTime()) return found;
  }
}
