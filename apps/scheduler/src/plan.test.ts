import { nextFireTime, parseCron } from "@scheduler/core";
import type { DueJob } from "@scheduler/db";
import { describe, expect, it } from "vitest";
import { FIRE_ALL_CAP, type PlanOptions, planSlots } from "./plan.js";

const NOW = new Date("2026-06-01T12:00:00.000Z");
const OPTIONS = { now: NOW, lookaheadMs: 2000, misfireThresholdMs: 60_000 };

function job(overrides: Partial<DueJob> = {}): DueJob {
  return {
    id: "00000000-0000-4000-8000-000000000001",
    tenantId: "00000000-0000-4000-8000-000000000002",
    cronExpression: "* * * * * *",
    timezone: "UTC",
    priority: 0,
    // High enough that only the maxConcurrent cases below are about concurrency.
    maxConcurrent: 1000,
    misfirePolicy: "fire_once",
    startDate: null,
    endDate: null,
    maxExecutions: null,
    executionCount: 0,
    nextExecutionAt: new Date(NOW.getTime() - 1000),
    ...overrides,
  };
}

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const plan = (j: DueJob, options: Partial<PlanOptions> = {}) => {
  const schedule = parseCron(j.cronExpression, j.timezone);
  return planSlots(j, (after) => nextFireTime(schedule, after), { ...OPTIONS, ...options });
};

describe("planSlots", () => {
  it("fires every slot from the due one up to now + lookahead", () => {
    const p = plan(job());
    expect(iso(p.fire)).toEqual([
      "2026-06-01T11:59:59.000Z",
      "2026-06-01T12:00:00.000Z",
      "2026-06-01T12:00:01.000Z",
      "2026-06-01T12:00:02.000Z",
    ]);
    expect(p.nextExecutionAt?.toISOString()).toBe("2026-06-01T12:00:03.000Z");
    expect(p.status).toBe("active");
  });

  it("fires a slot a little late (inside the misfire threshold) as usual", () => {
    const q = plan(
      job({
        cronExpression: "30 * * * * *",
        nextExecutionAt: new Date("2026-06-01T11:59:30.000Z"),
      }),
    );
    expect(iso(q.fire)).toEqual(["2026-06-01T11:59:30.000Z"]);
    expect(q.nextExecutionAt?.toISOString()).toBe("2026-06-01T12:00:30.000Z");
  });

  it.each([
    [
      "fire_once keeps the most recent missed slot",
      "fire_once",
      ["2026-06-01T11:58:00.000Z", "2026-06-01T11:59:00.000Z", "2026-06-01T12:00:00.000Z"],
    ],
    [
      "skip drops every missed slot",
      "skip",
      ["2026-06-01T11:59:00.000Z", "2026-06-01T12:00:00.000Z"],
    ],
  ])("after an outage, %s", (_case, misfirePolicy, expected) => {
    const p = plan(
      job({
        cronExpression: "0 * * * * *",
        misfirePolicy,
        nextExecutionAt: new Date("2026-06-01T10:00:00.000Z"),
      }),
    );
    expect(iso(p.fire)).toEqual(expected);
    expect(p.nextExecutionAt?.toISOString()).toBe("2026-06-01T12:01:00.000Z");
  });

  it("after an outage, fire_all catches up at most the 100 most recent missed slots", () => {
    const p = plan(
      job({
        cronExpression: "0 * * * * *",
        misfirePolicy: "fire_all",
        nextExecutionAt: new Date("2026-05-31T12:00:00.000Z"),
      }),
    );
    const late = p.fire.filter((d) => d.getTime() < NOW.getTime() - 60_000);
    expect(late).toHaveLength(FIRE_ALL_CAP);
    expect(late.at(-1)?.toISOString()).toBe("2026-06-01T11:58:00.000Z");
    expect(iso(p.fire.slice(-2))).toEqual(["2026-06-01T11:59:00.000Z", "2026-06-01T12:00:00.000Z"]);
  });

  it("stops at maxExecutions and makes the job inactive", () => {
    const p = plan(job({ maxExecutions: 5, executionCount: 3 }));
    expect(iso(p.fire)).toEqual(["2026-06-01T11:59:59.000Z", "2026-06-01T12:00:00.000Z"]);
    expect(p).toMatchObject({ nextExecutionAt: null, status: "inactive" });
  });

  it("stops at endDate and makes the job inactive", () => {
    const p = plan(job({ endDate: new Date("2026-06-01T12:00:00.500Z") }));
    expect(iso(p.fire)).toEqual(["2026-06-01T11:59:59.000Z", "2026-06-01T12:00:00.000Z"]);
    expect(p).toMatchObject({ nextExecutionAt: null, status: "inactive" });
  });

  it("after a years-long outage of an every-second job, fire_all keeps the 100 slots before the threshold", () => {
    const p = plan(
      job({ misfirePolicy: "fire_all", nextExecutionAt: new Date("2020-01-01T00:00:00.000Z") }),
    );
    expect(p.fire[0]?.toISOString()).toBe("2026-06-01T11:57:20.000Z");
    expect(p.fire.length).toBe(100 + 63);
    expect(new Set(p.fire.map((d) => d.getTime())).size).toBe(p.fire.length);
    expect(p.nextExecutionAt?.toISOString()).toBe("2026-06-01T12:00:03.000Z");
  });

  it("finds the last missed slot of a yearly job missed for years", () => {
    const p = plan(
      job({ cronExpression: "0 0 0 1 1 *", nextExecutionAt: new Date("2019-01-01T00:00:00.000Z") }),
    );
    expect(iso(p.fire)).toEqual(["2026-01-01T00:00:00.000Z"]);
    expect(p.nextExecutionAt?.toISOString()).toBe("2027-01-01T00:00:00.000Z");
  });

  it("keeps no missed slot past endDate", () => {
    const p = plan(
      job({
        cronExpression: "0 * * * * *",
        nextExecutionAt: new Date("2026-06-01T10:00:00.000Z"),
        endDate: new Date("2026-06-01T10:30:00.000Z"),
      }),
    );
    expect(iso(p.fire)).toEqual(["2026-06-01T10:30:00.000Z"]);
    expect(p).toMatchObject({ nextExecutionAt: null, status: "inactive" });
  });

  it("fires nothing before startDate and moves the job to its first slot after it", () => {
    const p = plan(job({ startDate: new Date("2026-06-01T12:00:01.500Z") }));
    expect(iso(p.fire)).toEqual(["2026-06-01T12:00:02.000Z"]);
    expect(p.skip).toEqual([]);
    expect(p.nextExecutionAt?.toISOString()).toBe("2026-06-01T12:00:03.000Z");
  });

  it("records nothing for a startDate beyond the lookahead and waits for it", () => {
    const p = plan(job({ startDate: new Date("2026-06-01T13:00:00.000Z") }));
    expect(p).toMatchObject({ fire: [], skip: [], status: "active" });
    expect(p.nextExecutionAt?.toISOString()).toBe("2026-06-01T13:00:00.000Z");
  });
});

describe("planSlots with maxConcurrent", () => {
  const lagging = (overrides: Partial<DueJob>) =>
    job({ nextExecutionAt: new Date("2026-06-01T11:59:57.000Z"), ...overrides });

  it("fires the newest of the slots due at once and records the older ones skipped", () => {
    const p = plan(lagging({ maxConcurrent: 1 }));
    expect(iso(p.skip.map((s) => s.at))).toEqual([
      "2026-06-01T11:59:57.000Z",
      "2026-06-01T11:59:58.000Z",
      "2026-06-01T11:59:59.000Z",
    ]);
    expect(p.skip[0]?.reason).toBe(
      "skipped: maxConcurrent 1 reached (0 execution(s) of this job in flight, 4 slot(s) due at once)",
    );
    expect(iso(p.fire)).toEqual([
      "2026-06-01T12:00:00.000Z",
      "2026-06-01T12:00:01.000Z",
      "2026-06-01T12:00:02.000Z",
    ]);
    expect(p.nextExecutionAt?.toISOString()).toBe("2026-06-01T12:00:03.000Z");
  });

  it("lets as many slots due at once fire as maxConcurrent leaves free", () => {
    const p = plan(lagging({ maxConcurrent: 3 }), { inFlight: 1 });
    expect(iso(p.skip.map((s) => s.at))).toEqual([
      "2026-06-01T11:59:57.000Z",
      "2026-06-01T11:59:58.000Z",
    ]);
    expect(iso(p.fire).slice(0, 2)).toEqual([
      "2026-06-01T11:59:59.000Z",
      "2026-06-01T12:00:00.000Z",
    ]);
  });

  it("skips every slot due at once while maxConcurrent executions are in flight, not those ahead", () => {
    const p = plan(job({ maxConcurrent: 2 }), { inFlight: 2 });
    expect(iso(p.skip.map((s) => s.at))).toEqual([
      "2026-06-01T11:59:59.000Z",
      "2026-06-01T12:00:00.000Z",
    ]);
    expect(iso(p.fire)).toEqual(["2026-06-01T12:00:01.000Z", "2026-06-01T12:00:02.000Z"]);
  });

  it("fires a slot still ahead even when the job is at maxConcurrent (the worker decides at its start)", () => {
    const p = plan(
      job({ maxConcurrent: 1, nextExecutionAt: new Date("2026-06-01T12:00:01.000Z") }),
      {
        inFlight: 5,
      },
    );
    expect(p.skip).toEqual([]);
    expect(iso(p.fire)).toEqual(["2026-06-01T12:00:01.000Z", "2026-06-01T12:00:02.000Z"]);
  });

  it("counts only fired slots toward maxExecutions", () => {
    const p = plan(lagging({ maxConcurrent: 1, maxExecutions: 2 }));
    expect(p.skip).toHaveLength(3);
    expect(iso(p.fire)).toEqual(["2026-06-01T12:00:00.000Z", "2026-06-01T12:00:01.000Z"]);
    expect(p).toMatchObject({ nextExecutionAt: null, status: "inactive" });
  });
});
