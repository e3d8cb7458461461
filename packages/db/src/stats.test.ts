import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@scheduler/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { insertJob } from "./queries/jobs.js";
import { maintainPartitions } from "./queries/partitions.js";
import { cheapestDays, durationBucket, executionStats } from "./queries/stats.js";

let database: TestDatabase;
const tenantId = randomUUID();
const jobs: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  const { db, pool } = database;
  await maintainPartitions(db, {
    now: new Date("2031-03-10T00:00:00Z"),
    retentionDays: 36_500,
    monthsAhead: 2,
  });
  for (const owner of [tenantId, tenantId, randomUUID()]) {
    const job = await insertJob(db, {
      name: `job-${randomUUID()}`,
      cronExpression: "* * * * * *",
      jobType: "http",
      config: { url: "https://example.com", method: "GET" },
      tenantId: owner,
      createdBy: randomUUID(),
    });
    jobs.push(job.id);
  }
  // 3 jobs × 3,000 executions from 2031-03-29 to 2031-04-02, across a month boundary, in
  // every status, some with no duration, some timed out, some retried.
  await pool.query(
    `SELECT setseed(0.42);
     INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, status,
       scheduled_at, duration_ms, error_type, retry_count)
     SELECT j.id, j.tenant_id, j.id || ':' || g, 'scheduled',
       (ARRAY['completed', 'completed', 'completed', 'failed', 'cancelled', 'skipped', 'pending', 'running'])[1 + floor(random() * 8)::int],
       timestamptz '2031-03-29T00:00:00Z' + g * interval '2 minutes 3.5 seconds',
       CASE WHEN random() < 0.95 THEN floor(exp(random() * 12))::int END,
       CASE WHEN random() < 0.1 THEN 'TIMEOUT' END,
       floor(random() * 1.4)::int
     FROM scheduled_jobs j, generate_series(1, 3000) g`,
  );
  // Some end later, as a worker or a cancel would end them.
  await pool.query(`
    UPDATE job_executions SET status = 'completed', duration_ms = 777
    WHERE status = 'running' AND scheduled_at < '2031-04-01T00:00:00Z';
    UPDATE job_executions SET status = 'cancelled' WHERE status = 'pending' AND random() < 0.5;`);
});
afterAll(() => database.drop());

/** A `now` after all the test's history, so the choice of days ignores no row. */
const LATER = new Date("2032-01-01T00:00:00Z");

/** The same figures from every row, as the API computed them before rollups. */
async function fullCount(from: Date, to: Date, jobId?: string) {
  const { rows } = await database.pool.query(
    `SELECT count(*)::int AS total,
       count(*) FILTER (WHERE status = 'pending')::int AS pending,
       count(*) FILTER (WHERE status = 'running')::int AS running,
       count(*) FILTER (WHERE status = 'completed')::int AS completed,
       count(*) FILTER (WHERE status = 'failed')::int AS failed,
       count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled,
       count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
       avg(duration_ms) FILTER (WHERE status IN ('completed', 'failed'))::float8 AS "averageDurationMs",
       percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE status IN ('completed', 'failed')) AS p95,
       count(*) FILTER (WHERE error_type = 'TIMEOUT')::int AS timeouts,
       count(*) FILTER (WHERE retry_count > 0)::int AS retried
     FROM job_executions
     WHERE tenant_id = $1 AND scheduled_at >= $2 AND scheduled_at <= $3 AND ($4::uuid IS NULL OR job_id = $4)`,
    [tenantId, from, to, jobId ?? null],
  );
  return rows[0] as Record<string, number | null>;
}

describe("executionStats", () => {
  it.each([
    ["whole days only", "2031-03-30T00:00:00.000Z", "2031-04-01T23:59:59.999Z", 3000],
    ["partial days at both ends", "2031-03-29T13:17:01.250Z", "2031-04-02T05:00:00.000Z", 3000],
    [
      "a partial start and a whole last day",
      "2031-03-29T08:00:00Z",
      "2031-03-31T23:59:59.999Z",
      2000,
    ],
    ["less than a day, across midnight", "2031-03-31T18:00:00Z", "2031-04-01T06:00:00Z", 500],
    ["a day ending on midnight itself", "2031-03-30T00:00:00Z", "2031-03-31T00:00:00Z", 1000],
    ["the whole history and more", "2031-03-01T00:00:00Z", "2031-04-30T00:00:00Z", 5000],
    ["one instant", "2031-03-30T00:00:50.000Z", "2031-03-30T00:00:50.000Z", 2],
    ["mostly-covered days at both ends", "2031-03-29T03:00:00Z", "2031-04-01T21:00:00Z", 5000],
    ["23 hours of one day", "2031-03-30T00:30:00Z", "2031-03-30T23:30:00Z", 1000],
  ])("equals a full count over %s", async (_, fromIso, toIso, atLeast) => {
    const from = new Date(fromIso);
    const to = new Date(toIso);
    for (const jobId of [undefined, jobs[0]]) {
      const stats = await executionStats(database.db, tenantId, { from, to, jobId }, LATER);
      const { p95, ...exact } = await fullCount(from, to, jobId);
      const { p95DurationMs, averageDurationMs, ...counts } = stats;
      const { averageDurationMs: expectedAverage, ...expectedCounts } = exact;
      expect(counts, jobId ?? "tenant").toEqual(expectedCounts);
      expect(counts.total).toBeGreaterThanOrEqual(jobId ? Math.ceil(atLeast / 2) : atLeast);
      if (expectedAverage === null) expect(averageDurationMs).toBeNull();
      else expect(averageDurationMs).toBeCloseTo(expectedAverage!, 6);
      if (p95 === null || p95 === undefined) expect(p95DurationMs).toBeNull();
      else {
        // The nearest-rank p95 lies in the same bucket as the answer, within 1.6 %.
        expect(durationBucket(p95DurationMs!)).toBe(durationBucket(p95));
        expect(Math.abs(p95DurationMs! - p95) / Math.max(p95, 1)).toBeLessThanOrEqual(1 / 64);
      }
    }
  });

  it("forgets a deleted job's executions", async () => {
    const from = new Date("2031-03-01T00:00:00Z");
    const to = new Date("2031-04-30T00:00:00Z");
    const before = await executionStats(database.db, tenantId, { from, to }, LATER);
    const { rows } = await database.pool.query(
      "SELECT count(*)::int AS n FROM job_executions WHERE job_id = $1",
      [jobs[1]],
    );
    await database.pool.query("DELETE FROM scheduled_jobs WHERE id = $1", [jobs[1]]);
    const after = await executionStats(database.db, tenantId, { from, to }, LATER);
    expect(after.total).toBe(before.total - rows[0].n);
    const { p95: _p95, averageDurationMs: _avg, ...exact } = await fullCount(from, to);
    expect(after).toMatchObject(exact);
    const { rows: leftovers } = await database.pool.query(
      "SELECT count(*)::int AS n FROM execution_rollups WHERE job_id = $1",
      [jobs[1]],
    );
    expect(leftovers).toEqual([{ n: 0 }]);
  });
});

describe("durationBucket", () => {
  it("buckets every duration as the database's execution_duration_bucket does", async () => {
    const values = [0, 1, 63, 64, 65, 127, 128, 129, 86_400_000, 2_147_483_647];
    for (let power = 6; power < 31; power++)
      values.push(2 ** power - 1, 2 ** power, 2 ** power + 1);
    for (let i = 0; i < 2000; i++) values.push(Math.floor(Math.exp(Math.random() * 21)));
    const { rows } = await database.pool.query(
      "SELECT v, execution_duration_bucket(v) AS bucket FROM unnest($1::int[]) AS v",
      [values],
    );
    for (const row of rows) expect(durationBucket(row.v), String(row.v)).toBe(row.bucket);
  });
});

describe("cheapestDays", () => {
  const ms = (iso: string) => Date.parse(iso);
  const day = (iso: string) => new Date(iso).toISOString().slice(0, 10);
  it.each([
    [
      "whole days: those days",
      "2031-03-30T00:00Z",
      "2031-04-02T00:00Z",
      "2032-01-01T00:00Z",
      ["2031-03-30", "2031-04-02"],
    ],
    [
      "an hour: no rollups",
      "2031-03-30T10:00Z",
      "2031-03-30T11:00Z",
      "2032-01-01T00:00Z",
      undefined,
    ],
    [
      "ends covering most of their days: those days whole",
      "2031-03-29T03:00Z",
      "2031-04-01T21:00Z",
      "2032-01-01T00:00Z",
      ["2031-03-29", "2031-04-02"],
    ],
    [
      "ends covering little of their days: the days between",
      "2031-03-29T21:00Z",
      "2031-04-01T03:00Z",
      "2032-01-01T00:00Z",
      ["2031-03-30", "2031-04-01"],
    ],
    [
      "up to now: today whole, its future holds no rows",
      "2031-03-29T12:30Z",
      "2031-04-01T00:20Z",
      "2031-04-01T00:20Z",
      ["2031-03-30", "2031-04-02"],
    ],
  ])("%s", (_, from, to, now, expected) => {
    const days = cheapestDays([ms(from), ms(to)], ms(now));
    expect(
      days && [day(new Date(days[0]).toISOString()), day(new Date(days[1]).toISOString())],
    ).toEqual(expected);
  });
});
