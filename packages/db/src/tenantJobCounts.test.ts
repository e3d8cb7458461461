import { randomUUID } from "node:crypto";
import { createTestDatabase, type TestDatabase } from "@scheduler/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenantQuotaExceeded } from "./client.js";
import { deleteJob, insertJobs } from "./queries/jobs.js";
import { countTenantJobs } from "./queries/tenantJobCounts.js";

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.drop();
});

/** Every tenant whose counter row differs from a count of its jobs. */
async function drift(): Promise<unknown[]> {
  const { rows } = await database.pool.query(
    `SELECT tenant_id, c.job_count, j.n FROM tenant_job_counts c
     FULL JOIN (SELECT tenant_id, count(*)::int AS n FROM scheduled_jobs GROUP BY 1) j USING (tenant_id)
     WHERE c.job_count IS DISTINCT FROM j.n AND coalesce(c.job_count, 0) + coalesce(j.n, 0) > 0`,
  );
  return rows;
}

/** Inserts `n` jobs for each tenant in one statement, as SQL by hand would. */
async function insertBySql(tenants: string[], n: number): Promise<void> {
  await database.pool.query(
    `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by)
     SELECT 'sql-' || gen_random_uuid(), '0 0 * * * *', 'http', '{}', t, t
     FROM unnest($1::uuid[]) t, generate_series(1, $2::int)`,
    [tenants, n],
  );
}

describe("tenant_job_counts", () => {
  it("follows every write that adds or removes a tenant's jobs", async () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const created = await insertJobs(
      database.db,
      Array.from({ length: 7 }, (_, i) => ({
        name: `batch-${i}`,
        cronExpression: "0 0 * * * *",
        jobType: "http",
        config: {},
        tenantId: i < 4 ? a : b,
        createdBy: a,
      })),
    );
    expect(await countTenantJobs(database.db, a)).toBe(4);
    expect(await countTenantJobs(database.db, b)).toBe(3);

    await insertBySql([a, b, c], 5);
    expect(await countTenantJobs(database.db, c)).toBe(5);

    expect(await deleteJob(database.db, a, created[0]!.id)).toBe(true);
    await database.pool.query("DELETE FROM scheduled_jobs WHERE tenant_id = $1", [b]);
    await database.pool.query(
      "UPDATE scheduled_jobs SET tenant_id = $1 WHERE id IN (SELECT id FROM scheduled_jobs WHERE tenant_id = $2 LIMIT 2)",
      [b, c],
    );
    // An update that leaves the tenant alone, as the scheduler's are.
    await database.pool.query("UPDATE scheduled_jobs SET status = 'paused' WHERE tenant_id = $1", [
      a,
    ]);
    expect(await countTenantJobs(database.db, a)).toBe(8);
    expect(await countTenantJobs(database.db, b)).toBe(2);
    expect(await countTenantJobs(database.db, c)).toBe(3);
    expect(await drift()).toEqual([]);
  });

  it("drops the counts an aborted write added", async () => {
    const tenant = randomUUID();
    await insertBySql([tenant], 3);
    const client = await database.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by)
         VALUES ('rolled-back', '0 0 * * * *', 'http', '{}', $1, $1)`,
        [tenant],
      );
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    expect(await countTenantJobs(database.db, tenant)).toBe(3);
    expect(await drift()).toEqual([]);
  });

  it("refuses an insert that takes a tenant past the quota it was given, and only that", async () => {
    const tenant = randomUUID();
    await insertBySql([tenant], 3);
    const jobs = (n: number) =>
      Array.from({ length: n }, () => ({
        name: `quota-${randomUUID()}`,
        cronExpression: "0 0 * * * *",
        jobType: "http",
        config: {},
        tenantId: tenant,
        createdBy: tenant,
      }));
    const refused = await insertJobs(database.db, jobs(2), { maxJobsPerTenant: 4 }).catch(
      (error: unknown) => error,
    );
    expect(tenantQuotaExceeded(refused)).toEqual({ current: 3 });
    expect(await insertJobs(database.db, jobs(1), { maxJobsPerTenant: 4 })).toHaveLength(1);
    // Without a quota (SQL by hand, a test's fixture) nothing is refused.
    await insertBySql([tenant], 2);
    expect(await countTenantJobs(database.db, tenant)).toBe(6);
    expect(await drift()).toEqual([]);
  });

  it("empties with the table", async () => {
    await insertBySql([randomUUID()], 2);
    await database.pool.query("TRUNCATE scheduled_jobs CASCADE");
    const { rows } = await database.pool.query("SELECT count(*)::int AS n FROM tenant_job_counts");
    expect(rows).toEqual([{ n: 0 }]);
  });
});
