import { createEmptyTestDatabase, type TestDatabase } from "@scheduler/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { runMigrations } from "./migrate.js";
import { ALL_JOBS } from "./queries/stats.js";

let database: TestDatabase | undefined;
afterEach(async () => {
  await database?.drop();
  database = undefined;
});

/** Every row of the history, in one string: equal strings, equal histories. */
const HISTORY_DIGEST = `
  SELECT count(*)::int AS n, md5(string_agg(row_to_json(e)::text, '|' ORDER BY e.id)) AS digest
  FROM job_executions e`;

describe("migration 0001 (partitioned history)", () => {
  it("keeps every row of an unpartitioned history and rolls it up", async () => {
    database = await createEmptyTestDatabase();
    const { url, pool } = database;
    await runMigrations(url, { through: "0000_init" });
    const tenants = [
      "0a0a0a0a-0000-4000-8000-000000000001",
      "0a0a0a0a-0000-4000-8000-000000000002",
    ];
    await pool.query(
      `INSERT INTO scheduled_jobs (id, name, cron_expression, job_type, config, tenant_id, created_by)
       SELECT ('0b0b0b0b-0000-4000-8000-00000000000' || j)::uuid, 'job ' || j, '* * * * * *', 'http',
         '{"url": "https://example.com", "method": "GET"}', ($1::uuid[])[1 + j % 2], $1[1]
       FROM generate_series(1, 4) j`,
      [tenants],
    );
    // Rows over four months of last year, a stray one years back and one far ahead, in
    // every status, with results, errors and the columns the worker fills.
    await pool.query(`
      INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, triggered_by, status,
        progress, scheduled_at, started_at, completed_at, duration_ms, result, error_type,
        error_message, retry_count, worker_id, memory_peak_mb, cpu_time_ms, created_at)
      SELECT j.id, j.tenant_id, j.id || ':' || g, CASE WHEN g % 10 = 0 THEN 'manual' ELSE 'scheduled' END,
        CASE WHEN g % 10 = 0 THEN j.created_by END,
        (ARRAY['completed', 'failed', 'cancelled', 'skipped', 'pending', 'running'])[1 + g % 6],
        g % 101, at, at + interval '1 second', at + interval '2 seconds', (g * 37) % 100000,
        jsonb_build_object('success', g % 6 = 0, 'metadata', jsonb_build_object('statusCode', 200)),
        CASE WHEN g % 6 = 1 THEN (ARRAY['TIMEOUT', 'NETWORK_ERROR'])[1 + g % 2] END,
        CASE WHEN g % 6 = 1 THEN 'failed ' || g END, g % 3, 'worker-' || (g % 4), g % 512, g % 9000,
        at + interval '5 milliseconds'
      FROM scheduled_jobs j,
        LATERAL (SELECT g, timestamptz '2025-08-01T00:00:00Z' + g * interval '1 hour 7 minutes' AS at
                 FROM generate_series(1, 2500) g) s
      UNION ALL
      SELECT j.id, j.tenant_id, j.id || ':old', 'scheduled', NULL, 'completed', 100,
        '2019-05-05T05:05:05.005Z', NULL, NULL, 42, NULL, NULL, NULL, 0, NULL, NULL, NULL, now()
      FROM scheduled_jobs j
      UNION ALL
      SELECT j.id, j.tenant_id, j.id || ':ahead', 'scheduled', NULL, 'pending', 0,
        '2031-12-31T23:59:59.999Z', NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, now()
      FROM scheduled_jobs j`);
    const before = (await pool.query(HISTORY_DIGEST)).rows[0];
    expect(before.n).toBe(4 * 2502);

    await runMigrations(url);

    const after = (await pool.query(HISTORY_DIGEST)).rows[0];
    expect(after).toEqual(before);
    const { rows: kind } = await pool.query(
      "SELECT relkind::text AS kind FROM pg_class WHERE relname = 'job_executions'",
    );
    expect(kind).toEqual([{ kind: "p" }]);
    // Every old row sits in a partition of its own month, none in the DEFAULT one.
    const { rows: placed } = await pool.query(`
      SELECT count(*)::int AS n FROM job_executions
      WHERE tableoid::regclass::text <> 'job_executions_' || to_char(scheduled_at AT TIME ZONE 'UTC', '"y"YYYY"m"MM')`);
    expect(placed).toEqual([{ n: 0 }]);
    // The rollups of the copied rows equal a full count, per tenant and per job.
    const { rows: mismatches } = await pool.query(
      `WITH full_count AS (
         SELECT tenant_id, job_id, status, count(*)::int AS n FROM job_executions
         WHERE status IN ('completed', 'failed', 'cancelled', 'skipped') GROUP BY 1, 2, 3
         UNION ALL
         SELECT tenant_id, $1::uuid, status, count(*)::int FROM job_executions
         WHERE status IN ('completed', 'failed', 'cancelled', 'skipped') GROUP BY 1, 3
       ), rolled AS (
         SELECT tenant_id, job_id, status, sum(executions)::int AS n FROM execution_rollups GROUP BY 1, 2, 3
       )
       SELECT * FROM full_count f FULL JOIN rolled r USING (tenant_id, job_id, status)
       WHERE f.n IS DISTINCT FROM r.n`,
      [ALL_JOBS],
    );
    expect(mismatches).toEqual([]);
  });

  it("upgrades an empty history", async () => {
    database = await createEmptyTestDatabase();
    await runMigrations(database.url, { through: "0000_init" });
    await runMigrations(database.url);
    const { rows } = await database.pool.query("SELECT count(*)::int AS n FROM job_executions");
    expect(rows).toEqual([{ n: 0 }]);
  });
});

describe("migration 0003 (tenant job counts)", () => {
  it("counts the jobs each tenant already has", async () => {
    database = await createEmptyTestDatabase();
    const { url, pool } = database;
    await runMigrations(url, { through: "0001_history_partitions" });
    await pool.query(
      `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by)
       SELECT 'job ' || j, '* * * * * *', 'http', '{}', ($1::uuid[])[1 + j % 3], $1[1]
       FROM generate_series(1, 100) j`,
      [
        [
          "0a0a0a0a-0000-4000-8000-000000000001",
          "0a0a0a0a-0000-4000-8000-000000000002",
          "0a0a0a0a-0000-4000-8000-000000000003",
        ],
      ],
    );

    await runMigrations(url);

    const { rows } = await pool.query(
      "SELECT tenant_id, job_count FROM tenant_job_counts ORDER BY tenant_id",
    );
    expect(rows).toEqual([
      { tenant_id: "0a0a0a0a-0000-4000-8000-000000000001", job_count: 33 },
      { tenant_id: "0a0a0a0a-0000-4000-8000-000000000002", job_count: 34 },
      { tenant_id: "0a0a0a0a-0000-4000-8000-000000000003", job_count: 33 },
    ]);
  });
});
