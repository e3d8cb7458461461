import { type CronSchedule, Lru, nextFireTime, parseCron } from "@scheduler/core";

/** A schedule, or the error parsing it gave: a broken job is not parsed again each tick. */
type Parsed = { schedule: CronSchedule } | { error: unknown };

/**
 * The scheduler's memo of cron work. cron.ts caches compiled expressions and valid
 * schedules itself; this adds fire times per (expression, zone, instant), which a claim
 * of thousands of jobs that share schedules (the top of the hour, midnight) would
 * otherwise compute thousands of times, and keeps parse errors, so a broken job is not
 * parsed again each tick.
 */
export class ScheduleCache {
  private readonly schedules: Lru<string, Parsed>;
  private readonly fireTimes: Lru<string, Date | null>;

  constructor(options: { schedules?: number; fireTimes?: number } = {}) {
    this.schedules = new Lru(options.schedules ?? 10_000);
    this.fireTimes = new Lru(options.fireTimes ?? 50_000);
  }

  /** parseCron, memoised; throws what parseCron threw. */
  schedule(expression: string, timezone: string): CronSchedule {
    const key = `${timezone} ${expression}`;
    let parsed = this.schedules.get(key);
    if (parsed === undefined) {
      try {
        parsed = { schedule: parseCron(expression, timezone) };
      } catch (error) {
        parsed = { error };
      }
      this.schedules.set(key, parsed);
    }
    if ("error" in parsed) throw parsed.error;
    return parsed.schedule;
  }

  /** nextFireTime, memoised. The Date returned is shared: do not mutate it. */
  nextFireTime(schedule: CronSchedule, after: Date): Date | null {
    const key = `${after.getTime()} ${schedule.timezone} ${schedule.expression}`;
    let next = this.fireTimes.get(key);
    if (next === undefined) {
      next = nextFireTime(schedule, after);
      this.fireTimes.set(key, next);
    }
    return next;
  }

  /** Entries held, for tests and the benchmark. */
  get size(): { schedules: number; fireTimes: number } {
    return { schedules: this.schedules.size, fireTimes: this.fireTimes.size };
  }
}
