import { type CronSchedule, type MisfirePolicy, nextFireTime } from "@scheduler/core";
import type { DueJob } from "@scheduler/db";

/** fire_all catches up at most this many missed slots (API.md: the 100 most recent). */
export const FIRE_ALL_CAP = 100;

export interface PlanOptions {
  /** Database clock at the claim. */
  now: Date;
  /** Slots up to now + lookahead are fired (enqueued with a delay to their second). */
  lookaheadMs: number;
  /** A slot older than this when found is a misfire, handled by the job's policy. */
  misfireThresholdMs: number;
}

export interface SlotPlan {
  /** Slots to record as executions, ascending. */
  fire: Date[];
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
 * Decides what one claimed job fires: every slot from its next_execution_at up to
 * now + lookahead. Slots older than the misfire threshold (no scheduler ran) follow
 * misfirePolicy: fire_once keeps the most recent one, skip none, fire_all the 100
 * most recent. endDate and maxExecutions end the job ('inactive').
 */
export function planSlots(job: DueJob, schedule: CronSchedule, options: PlanOptions): SlotPlan {
  const dueBefore = options.now.getTime() + options.lookaheadMs;
  const lateBefore = new Date(options.now.getTime() - options.misfireThresholdMs);
  const endMs = job.endDate?.getTime() ?? Number.POSITIVE_INFINITY;

  let slot: Date | null = job.nextExecutionAt;
  let fire: Date[] = [];
  if (slot < lateBefore) {
    const kept = KEPT_MISSED[job.misfirePolicy as MisfirePolicy] ?? 1;
    const missedBefore = new Date(Math.min(lateBefore.getTime(), endMs + 1));
    fire = recentSlots(schedule, slot, missedBefore, kept);
    slot = nextFireTime(schedule, new Date(lateBefore.getTime() - 1));
  }
  while (slot && slot.getTime() <= dueBefore && slot.getTime() <= endMs) {
    fire.push(slot);
    slot = nextFireTime(schedule, slot);
  }

  let ended = slot === null || slot.getTime() > endMs;
  if (job.maxExecutions !== null) {
    const remaining = Math.max(0, job.maxExecutions - job.executionCount);
    if (fire.length >= remaining) {
      fire = fire.slice(0, remaining);
      ended = true;
    }
  }
  return {
    fire,
    nextExecutionAt: ended ? null : slot,
    status: ended ? "inactive" : "active",
  };
}

/**
 * The last `count` fire times in [from, before), found without walking the whole
 * range: a window ending at `before` doubles until it holds `count` slots or reaches
 * `from`, so a years-long outage of an every-second job costs a few hundred steps.
 */
export function recentSlots(
  schedule: CronSchedule,
  from: Date,
  before: Date,
  count: number,
): Date[] {
  if (count <= 0 || from >= before) return [];
  for (let windowMs = 1000; ; windowMs *= 2) {
    const start = Math.max(from.getTime(), before.getTime() - windowMs);
    const found: Date[] = [];
    let slot = nextFireTime(schedule, new Date(start - 1));
    while (slot && slot < before) {
      found.push(slot);
      if (found.length > count) found.shift();
      slot = nextFireTime(schedule, slot);
    }
    if (found.length >= count || start === from.getTime()) return found;
  }
}
