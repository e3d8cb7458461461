import { nextFireTime, parseCron } from "@scheduler/core";
import { describe, expect, it } from "vitest";
import { ScheduleCache } from "./scheduleCache.js";

describe("ScheduleCache", () => {
  it("gives the same fire times as the cron module", () => {
    const cache = new ScheduleCache();
    const schedule = cache.schedule("0 30 2 * * *", "America/New_York");
    for (const after of ["2026-03-07T12:00:00Z", "2026-03-08T06:00:00Z", "2026-11-01T05:00:00Z"]) {
      const at = new Date(after);
      expect(cache.nextFireTime(schedule, at)).toEqual(
        nextFireTime(parseCron("0 30 2 * * *", "America/New_York"), at),
      );
    }
  });

  it("parses a schedule once per expression and zone", () => {
    const cache = new ScheduleCache();
    const a = cache.schedule("0 0 * * * *", "UTC");
    expect(cache.schedule("0 0 * * * *", "UTC")).toBe(a);
    expect(cache.schedule("0 0 * * * *", "Europe/Berlin")).not.toBe(a);
    expect(cache.size.schedules).toBe(2);
  });

  it("throws again, without parsing again, for a schedule that does not parse", () => {
    const cache = new ScheduleCache();
    expect(() => cache.schedule("0 0 0 30 2 *", "UTC")).toThrow(/"0 0 0 30 2 \*" is invalid/);
    expect(() => cache.schedule("0 0 0 30 2 *", "UTC")).toThrow(/"0 0 0 30 2 \*" is invalid/);
    expect(cache.size.schedules).toBe(1);
  });

  it("forgets the least recently used entries beyond its capacity", () => {
    const cache = new ScheduleCache({ schedules: 2, fireTimes: 3 });
    const s = cache.schedule("* * * * * *", "UTC");
    cache.schedule("0 * * * * *", "UTC");
    cache.schedule("* * * * * *", "UTC");
    cache.schedule("0 0 * * * *", "UTC");
    expect(cache.size.schedules).toBe(2);
    expect(cache.schedule("* * * * * *", "UTC")).toBe(s);
    for (let i = 0; i < 5; i++) cache.nextFireTime(s, new Date(i * 1000));
    expect(cache.size.fireTimes).toBe(3);
  });
});
