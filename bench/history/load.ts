import type pg from "pg";

/** The shape of the history: 100 tenants (by default) × 100 jobs, each firing every 14.4 minutes. */
export const TENANTS = 100;
export const JOBS_PER_TENANT = 100;
/** 100 slots a day per job: 10,000 jobs × 100 = 1M executions a day, the design's target rate (100 tenants; docs/design.md). */
const SLOTS_PER_DAY = 100;
const SLOT_SECONDS = 86_400 / SLOTS_PER_DAY;

/** Tenant `i`'s id: fixed, so requests can name tenants without a lookup. */
export function tenantId(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
}

/** Creates the jobs (and bench_jobs, the generator's list of them with their shapes). */
export async function seedJobs(client: pg.Client, tenants: number): Promise<void> {
  await client.query(`
    CREATE TABLE bench_jobs AS
    SELECT n, gen_random_uuid() AS id,
      ('00000000-0000-4000-8000-' || lpad(to_hex(n / ${JOBS_PER_TENANT}), 12, '0'))::uuid AS tenant_id,
      (n * 7919) % ${SLOT_SECONDS} AS offset_s,
      -- 20 ms to 10 s: each job keeps its own typical duration.
      (20 * power(2, n % 10))::int AS base_ms
    FROM generate_series(0, ${tenants * JOBS_PER_TENANT - 1}) n`);
  await client.query(`
    INSERT INTO scheduled_jobs (id, name, cron_expression, job_type, config, tenant_id,
      created_by, next_execution_at)
    SELECT id, 'job ' || n, '0 */15 * * * *', 'http',
      '{"url": "https://example.com/hook", "method": "POST"}', tenant_id, tenant_id, now()
    FROM bench_jobs`);
}

/**
 * The partitions of the months before the current one. In a deployment they exist
 * because maintenance created them ahead of time months ago; the bench's database is
 * new, so it creates them as that maintenance did (same names, bounds, DDL).
 */
export async function createPastPartitions(
  client: pg.Client,
  since: Date,
  now: Date,
): Promise<string[]> {
  const created: string[] = [];
  let month = new Date(Date.UTC(since.getUTCFullYear(), since.getUTCMonth(), 1));
  const current = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  while (month < current) {
    const next = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1));
    const day = (d: Date) => d.toISOString().slice(0, 10);
    const suffix = `y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, "0")}`;
    await client.query(
      `CREATE TABLE job_executions_${suffix} PARTITION OF job_executions
       FOR VALUES FROM ('${day(month)} 00:00:00+00') TO ('${day(next)} 00:00:00+00')`,
    );
    await client.query(
      `CREATE TABLE execution_rollups_${suffix} PARTITION OF execution_rollups
       FOR VALUES FROM ('${day(month)}') TO ('${day(next)}')`,
    );
    created.push(`job_executions_${suffix}`, `execution_rollups_${suffix}`);
    month = next;
  }
  return created;
}

/**
 * One UTC day of history (1M rows) in one INSERT … SELECT, in time order as the
 * scheduler writes it, and the day's rollups from the same rows. Statuses: 94 %
 * completed, 3 % failed (a third of them timeouts), 1 % cancelled, 2 % skipped; slots of
 * the last two minutes pending or running. 0.8 % manual and 0.2 % retry triggers.
 *
 * Run with session_replication_role = replica and the indexes dropped: the rollup
 * trigger (and the foreign-key check) is off during the load, and the rollups are added
 * here by the aggregation the trigger and migration 0001 use; the bench then checks them
 * against full counts.
 */
export async function insertDay(
  client: pg.Client,
  start: Date,
  day: number,
  now: Date,
): Promise<{ executions: number; rollups: number }> {
  const result = await client.query(
    `WITH inserted AS (
       INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, status, progress,
         scheduled_at, started_at, completed_at, duration_ms, result, error_type, error_message,
         retry_count, worker_id, created_at)
       SELECT j.id, j.tenant_id,
         CASE WHEN y.tt = 'scheduled' THEN j.id || ':' || (extract(epoch FROM x.at) * 1000)::bigint
              ELSE j.id || ':' || y.tt || ':' || gen_random_uuid() END,
         y.tt, y.status, CASE WHEN y.status = 'completed' THEN 100 ELSE 0 END, x.at,
         CASE WHEN y.status IN ('pending', 'skipped') THEN NULL ELSE x.at + interval '40 milliseconds' END,
         CASE WHEN y.status IN ('completed', 'failed', 'cancelled', 'skipped')
              THEN x.at + interval '40 milliseconds' + y.dur * interval '1 millisecond' END,
         CASE WHEN y.status IN ('completed', 'failed') THEN y.dur END,
         CASE y.status WHEN 'completed' THEN '{"success": true, "metadata": {"statusCode": 200}}'::jsonb
                       WHEN 'failed' THEN '{"success": false, "metadata": {"statusCode": 503}}'::jsonb END,
         CASE WHEN y.status = 'failed' THEN (ARRAY['TIMEOUT', 'NETWORK_ERROR', 'SYSTEM_ERROR'])[1 + floor(x.r3 * 3)::int]
              WHEN y.status = 'cancelled' THEN 'CANCELLED' END,
         CASE WHEN y.status = 'failed' THEN 'target answered 503' WHEN y.status = 'cancelled' THEN 'cancelled' END,
         CASE WHEN x.r3 < 0.02 THEN 1 ELSE 0 END, 'worker-' || (j.n % 8), x.at - interval '2 seconds'
       FROM generate_series($2::int * ${SLOTS_PER_DAY}, ($2::int + 1) * ${SLOTS_PER_DAY} - 1) k
       CROSS JOIN bench_jobs j
       CROSS JOIN LATERAL (SELECT $1::timestamptz + (k * ${SLOT_SECONDS} + j.offset_s) * interval '1 second' AS at,
         random() AS r, random() AS r2, random() AS r3) x
       CROSS JOIN LATERAL (SELECT
         CASE WHEN x.r < 0.008 THEN 'manual' WHEN x.r < 0.010 THEN 'retry' ELSE 'scheduled' END AS tt,
         CASE WHEN x.at > $3::timestamptz - interval '2 minutes' THEN (CASE WHEN x.r2 < 0.5 THEN 'pending' ELSE 'running' END)
              WHEN x.r2 < 0.94 THEN 'completed' WHEN x.r2 < 0.97 THEN 'failed'
              WHEN x.r2 < 0.98 THEN 'cancelled' ELSE 'skipped' END AS status,
         greatest(1, j.base_ms * exp(0.5 * (x.r + x.r2 + x.r3 - 1.5)))::int AS dur) y
       WHERE x.at <= $3::timestamptz
       RETURNING tenant_id, job_id, scheduled_at, status, duration_ms, error_type, retry_count
     ), rolled AS (
       INSERT INTO execution_rollups
         (tenant_id, job_id, day, status, duration_bucket, executions, duration_sum_ms, timeouts, retried)
       SELECT x.tenant_id, k.job_id, x.day, x.status, x.bucket, count(*)::int, sum(x.duration_ms)::bigint,
         sum(x.timeout)::int, sum(x.retried)::int
       FROM (
         SELECT e.tenant_id, e.job_id, (e.scheduled_at AT TIME ZONE 'UTC')::date AS day, e.status,
           CASE WHEN e.status IN ('completed', 'failed') THEN execution_duration_bucket(e.duration_ms) ELSE -1 END AS bucket,
           CASE WHEN e.status IN ('completed', 'failed') THEN coalesce(e.duration_ms, 0) ELSE 0 END AS duration_ms,
           (e.error_type IS NOT DISTINCT FROM 'TIMEOUT')::int AS timeout,
           (e.retry_count > 0)::int AS retried
         FROM inserted e
         WHERE e.status IN ('completed', 'failed', 'cancelled', 'skipped')
       ) x
       CROSS JOIN LATERAL (VALUES ('00000000-0000-0000-0000-000000000000'::uuid), (x.job_id)) AS k(job_id)
       GROUP BY x.tenant_id, k.job_id, x.day, x.status, x.bucket
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM inserted)::int AS executions, (SELECT count(*) FROM rolled)::int AS rollups`,
    [start, day, now],
  );
  return result.rows[0] as { executions: number; rollups: number };
}

/** An index or a unique/primary key of a partitioned table, as its own DDL. */
export interface IndexDefinition {
  name: string;
  create: string;
  drop: string;
}

/**
 * The keys and indexes of the tables, from the catalog. The load drops them and creates
 * them again afterwards (one sorted build per partition instead of 30M random inserts
 * into the primary key); the bench then checks the definitions came back identical.
 */
export async function indexesOf(client: pg.Client, tables: string[]): Promise<IndexDefinition[]> {
  const { rows } = await client.query<IndexDefinition>(
    `SELECT c.conname AS name,
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) AS create,
       format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS drop
     FROM pg_constraint c
     WHERE c.conrelid = ANY($1::regclass[]) AND c.contype IN ('p', 'u')
     UNION ALL
     SELECT ic.relname, replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON '), format('DROP INDEX %I', ic.relname)
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = ANY($1::regclass[])
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
     ORDER BY 1`,
    [tables],
  );
  return rows;
}

/** Jobs of a tenant, for requests that name one. */
export async function jobsOfTenants(client: pg.Client): Promise<Map<string, string[]>> {
  const { rows } = await client.query<{ tenant_id: string; ids: string[] }>(
    "SELECT tenant_id, array_agg(id ORDER BY n) AS ids FROM bench_jobs GROUP BY tenant_id",
  );
  return new Map(rows.map((r) => [r.tenant_id, r.ids]));
}
