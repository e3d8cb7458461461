import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { createEmptyTestDatabase, createTestDatabase, type TestDatabase } from "@scheduler/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { isUniqueViolation } from "./client.js";
import { databaseNow, insertSlotExecutions } from "./queries/claims.js";
import { insertExecutions } from "./queries/executions.js";
import { insertJob } from "./queries/jobs.js";
import { HOT_TABLE_AUTOVACUUM, listPartitions, maintainPartitions } from "./queries/partitions.js";

const TABLES = ["job_executions", "execution_rollups", "audit_events"] as const;
const MIGRATE_CLI = fileURLToPath(new URL("./migrateCli.ts", import.meta.url));
const FAR = 36_500;

const databases: TestDatabase[] = [];
async function database(kind: "migrated" | "empty" = "migrated"): Promise<TestDatabase> {
  const created = kind === "empty" ? await createEmptyTestDatabase() : await createTestDatabase();
  databases.push(created);
  return created;
}
afterEach(async () => {
  await Promise.all(databases.splice(0).map((d) => d.drop()));
});

const utc = (iso: string) => new Date(iso);
const monthAfter = (at: Date, months: number) =>
  new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + months, 1));

async function newJob(db: TestDatabase["db"], tenantId = randomUUID()) {
  return insertJob(db, {
    name: `job-${randomUUID()}`,
    cronExpression: "* * * * * *",
    jobType: "http",
    config: { url: "https://example.com", method: "GET" },
    tenantId,
    createdBy: randomUUID(),
  });
}

/** Ended executions of a job at the given instants, one second of duration each. */
async function insertEnded(
  db: TestDatabase["db"],
  job: { id: string; tenantId: string },
  at: Date[],
) {
  return insertExecutions(
    db,
    at.map((scheduledAt) => ({
      jobId: job.id,
      tenantId: job.tenantId,
      executionId: `${job.id}:${scheduledAt.getTime()}`,
      triggerType: "scheduled",
      status: "completed",
      scheduledAt,
      durationMs: 1000,
    })),
  );
}

async function count(pool: TestDatabase["pool"], sql: string, params: unknown[] = []) {
  const { rows } = await pool.query(sql, params);
  return Number(rows[0].n);
}

describe("maintainPartitions", () => {
  it("leaves a partition for next month of every partitioned table after the migrate command", async () => {
    const { url, db } = await database("empty");
    await promisify(execFile)(
      process.execPath,
      ["--conditions=@scheduler/source", "--import", "tsx", MIGRATE_CLI],
      { env: { ...process.env, DATABASE_URL: url } },
    );
    const nextMonth = monthAfter(await databaseNow(db), 1);
    for (const table of TABLES) {
      const partitions = await listPartitions(db, table);
      expect(
        partitions.map((p) => p.from?.getTime()),
        table,
      ).toContain(nextMonth.getTime());
      expect(
        partitions.some((p) => p.from === null),
        `${table} has a DEFAULT partition`,
      ).toBe(true);
    }
  });

  it("gives the hot tables and every partition of theirs, made then or later, their autovacuum settings", async () => {
    const { db, pool } = await database();
    await maintainPartitions(db, {
      now: utc("2031-05-20T12:00:00Z"),
      retentionDays: FAR,
      monthsAhead: 1,
    });
    await pool.query("DROP TABLE execution_rollups_default");
    await maintainPartitions(db, {
      now: utc("2031-05-20T12:00:00Z"),
      retentionDays: FAR,
      monthsAhead: 1,
    });
    const { rows } = await pool.query<{ name: string; options: string[] | null }>(
      `SELECT c.relname AS name, c.reloptions AS options FROM pg_class c
        WHERE c.oid = 'scheduled_jobs'::regclass
           OR c.oid IN (SELECT inhrelid FROM pg_inherits
             WHERE inhparent IN ('job_executions'::regclass, 'execution_rollups'::regclass))`,
    );
    const names = rows.map((r) => r.name);
    expect(names).toContain("job_executions_y2031m06");
    expect(names).toContain("execution_rollups_default");
    expect(names).toContain("job_executions_default");
    for (const row of rows)
      expect(row.options?.sort(), row.name).toEqual([...HOT_TABLE_AUTOVACUUM].sort());
    const audit = await listPartitions(db, "audit_events");
    const { rows: auditOptions } = await pool.query<{ options: string[] | null }>(
      "SELECT reloptions AS options FROM pg_class WHERE relname = ANY($1)",
      [audit.map((p) => p.name)],
    );
    expect(auditOptions.every((r) => r.options === null)).toBe(true);
  });

  it("creates the current month and the months ahead that are missing, and only those", async () => {
    const { db } = await database();
    const now = utc("2031-05-20T12:00:00Z");
    const first = await maintainPartitions(db, { now, retentionDays: FAR, monthsAhead: 2 });
    expect(first.created).toEqual([
      "job_executions_y2031m05",
      "job_executions_y2031m06",
      "job_executions_y2031m07",
      "execution_rollups_y2031m05",
      "execution_rollups_y2031m06",
      "execution_rollups_y2031m07",
      "audit_events_y2031m05",
      "audit_events_y2031m06",
      "audit_events_y2031m07",
    ]);
    expect(first.dropped).toEqual([]);
    const again = await maintainPartitions(db, { now, retentionDays: FAR, monthsAhead: 2 });
    expect(again).toEqual({ created: [], dropped: [] });
    const june = (await listPartitions(db, "job_executions")).find(
      (p) => p.name === "job_executions_y2031m06",
    );
    expect(june).toEqual({
      name: "job_executions_y2031m06",
      from: utc("2031-06-01T00:00:00Z"),
      to: utc("2031-07-01T00:00:00Z"),
    });
  });

  it("drops only the partitions entirely older than the retention limit, rollups and audit included", async () => {
    const { db, pool } = await database();
    await maintainPartitions(db, {
      now: utc("2031-01-10T00:00:00Z"),
      retentionDays: FAR,
      monthsAhead: 5,
    });
    const job = await newJob(db);
    await insertEnded(db, job, [
      utc("2031-02-28T23:59:59.999Z"),
      utc("2031-03-01T00:00:00Z"),
      utc("2031-03-31T12:00:00Z"),
    ]);
    // 90 days before 2031-06-15 is 2031-03-17: February ends before it, March does not.
    const { dropped } = await maintainPartitions(db, {
      now: utc("2031-06-15T00:00:00Z"),
      retentionDays: 90,
      monthsAhead: 1,
    });
    expect(dropped).toEqual(
      expect.arrayContaining([
        "job_executions_y2031m01",
        "job_executions_y2031m02",
        "execution_rollups_y2031m02",
        "audit_events_y2031m02",
      ]),
    );
    expect(dropped.some((name) => name.endsWith("y2031m03"))).toBe(false);
    const cutoff = utc("2031-03-17T00:00:00Z");
    for (const table of TABLES) {
      for (const p of await listPartitions(db, table)) {
        if (p.to) expect(p.to > cutoff, `${p.name} kept`).toBe(true);
      }
    }
    expect(await count(pool, "SELECT count(*) AS n FROM job_executions")).toBe(2);
    expect(
      await count(pool, "SELECT sum(executions) AS n FROM execution_rollups WHERE job_id = $1", [
        job.id,
      ]),
    ).toBe(2);
  });

  it("moves rows that landed in a DEFAULT partition into a partition of their month", async () => {
    const { db, pool } = await database();
    const job = await newJob(db);
    await insertEnded(db, job, [utc("2035-03-05T10:00:00Z"), utc("2035-03-06T10:00:00Z")]);
    expect(await count(pool, "SELECT count(*) AS n FROM job_executions_default")).toBe(2);
    const rollupsBefore = await pool.query(
      "SELECT * FROM execution_rollups ORDER BY job_id, day, status, duration_bucket",
    );

    const { created } = await maintainPartitions(db, {
      now: await databaseNow(db),
      retentionDays: FAR,
      monthsAhead: 1,
    });
    expect(created).toEqual(
      expect.arrayContaining(["job_executions_y2035m03", "execution_rollups_y2035m03"]),
    );
    expect(await count(pool, "SELECT count(*) AS n FROM job_executions_default")).toBe(0);
    expect(await count(pool, "SELECT count(*) AS n FROM execution_rollups_default")).toBe(0);
    expect(await count(pool, "SELECT count(*) AS n FROM job_executions_y2035m03")).toBe(2);
    // Moving rows between partitions is not a change of history: the rollups stay as they were.
    const rollupsAfter = await pool.query(
      "SELECT * FROM execution_rollups ORDER BY job_id, day, status, duration_bucket",
    );
    expect(rollupsAfter.rows).toEqual(rollupsBefore.rows);
  });

  it("lets concurrent runs take turns: each partition is created once", async () => {
    const { db } = await database();
    const options = { now: utc("2040-01-15T00:00:00Z"), retentionDays: FAR, monthsAhead: 2 };
    const runs = await Promise.all([
      maintainPartitions(db, options),
      maintainPartitions(db, options),
    ]);
    const created = runs.flatMap((r) => r.created).sort();
    expect(created).toHaveLength(9);
    expect(new Set(created).size).toBe(9);
    expect(runs.some((r) => r.created.length === 0)).toBe(true);
  });
});

describe("slot uniqueness across a partition boundary", () => {
  it("records a job's 23:59:59 and 00:00:00 slots of a month's end once each, and refuses a duplicate of either", async () => {
    const { db, pool } = await database();
    await maintainPartitions(db, {
      now: utc("2031-01-20T00:00:00Z"),
      retentionDays: FAR,
      monthsAhead: 1,
    });
    const job = await newJob(db);
    const slots = [utc("2031-01-31T23:59:59Z"), utc("2031-02-01T00:00:00Z")];
    const rows = slots.map((scheduledAt) => ({
      jobId: job.id,
      tenantId: job.tenantId,
      executionId: `${job.id}:${scheduledAt.getTime()}`,
      scheduledAt,
      status: "pending" as const,
      errorMessage: null,
    }));
    expect(await insertSlotExecutions(db, rows)).toHaveLength(2);
    const { rows: placed } = await pool.query(
      "SELECT tableoid::regclass::text AS partition FROM job_executions ORDER BY scheduled_at",
    );
    expect(placed.map((r) => r.partition)).toEqual([
      "job_executions_y2031m01",
      "job_executions_y2031m02",
    ]);

    // The scheduler claiming the same slots again records nothing.
    expect(await insertSlotExecutions(db, rows)).toEqual([]);
    // Nor does a duplicate with another execution id get in, on either side of midnight.
    for (const slot of slots) {
      const duplicate = pool.query(
        `INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, status, scheduled_at)
         VALUES ($1, $2, $3, 'scheduled', 'pending', $4)`,
        [job.id, job.tenantId, `${job.id}:${slot.getTime()}:again`, slot],
      );
      const error = await duplicate.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isUniqueViolation(error), slot.toISOString()).toBe(true);
    }
    expect(await count(pool, "SELECT count(*) AS n FROM job_executions")).toBe(2);
  });
});
