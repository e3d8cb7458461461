import { type CronSchedule, nextFireTime, parseCron } from "@scheduler/core";

/** A map that forgets its least recently used entry beyond `capacity`. */
class Lru<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      // Map iterates in insertion order: re-inserting marks the entry most recent.
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      this.entries.delete(this.entries.keys().next().value as K);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** A schedule, or the error parsing it gave: a broken job is not parsed again each tick. */
type Parsed = { schedule: CronSchedule } | { error: unknown };

/**
 * The scheduler's memo of cron work (cron.ts stays pure and uncached). parseCron
 * validates with a search for a first fire time, and nextFireTime costs ~0.1–0.3 ms, so
 * a claim of thousands of jobs that share schedules (the top of the hour, midnight)
 * would repeat the same computation thousands of times. Both are pure functions of
 * (expression, zone[, instant]), so they are memoised per those.
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
