-- Execution history at scale (docs/history.md). Hand-written in place of what
-- drizzle-kit generated, which cannot express partitioning; meta/0001_snapshot.json is
-- drizzle's, so a later `drizzle-kit generate` sees no difference. drizzle's migrator
-- runs this whole file in one transaction: a failure leaves the old table as it was.
--
-- 1. job_executions becomes range-partitioned by month (UTC) on scheduled_at. The old
--    table is renamed, the new one created with a partition for every month the old rows
--    touch, the current month and the next three, and a DEFAULT partition; every row is
--    copied, then the old table dropped. Keys and indexes are created after the copy.
ALTER TABLE "job_executions" RENAME TO "job_executions_unpartitioned";
--> statement-breakpoint
CREATE TABLE "job_executions" (
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"job_id" uuid NOT NULL,
	"execution_id" varchar(100) NOT NULL,
	"trigger_type" varchar(20) NOT NULL,
	"triggered_by" uuid,
	"status" varchar(20) NOT NULL,
	"progress" integer DEFAULT 0 NOT NULL,
	"scheduled_at" timestamp (3) with time zone NOT NULL,
	"started_at" timestamp (3) with time zone,
	"completed_at" timestamp (3) with time zone,
	"duration_ms" integer,
	"result" jsonb,
	"error_type" varchar(30),
	"error_message" text,
	"error_stack" text,
	"retry_count" integer DEFAULT 0 NOT NULL,
	"worker_id" varchar(100),
	"memory_peak_mb" integer,
	"cpu_time_ms" integer,
	"tenant_id" uuid NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
) PARTITION BY RANGE ("scheduled_at");
--> statement-breakpoint
-- 2. Rollups of ended executions per tenant, job, UTC day, status and duration bucket,
--    partitioned like the history so retention drops both together.
CREATE TABLE "execution_rollups" (
	"tenant_id" uuid NOT NULL,
	"job_id" uuid NOT NULL,
	"day" date NOT NULL,
	"status" varchar(20) NOT NULL,
	"duration_bucket" smallint NOT NULL,
	"executions" integer NOT NULL,
	"duration_sum_ms" bigint NOT NULL,
	"timeouts" integer NOT NULL,
	"retried" integer NOT NULL,
	-- Covering (INCLUDE, which drizzle cannot declare): a tenant's rows of a month are
	-- ~15,000 rows on as many heap pages, interleaved with the job rows; the stats read
	-- them with an index-only scan instead.
	CONSTRAINT "execution_rollups_pk" PRIMARY KEY("tenant_id","job_id","day","status","duration_bucket")
		INCLUDE ("executions", "duration_sum_ms", "timeouts", "retried")
) PARTITION BY RANGE ("day");
--> statement-breakpoint
-- 3. The audit trail, partitioned by month on `at` and kept as long as the history.
CREATE TABLE "audit_events" (
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"actor_type" varchar(20) NOT NULL,
	"actor_id" uuid,
	"action" varchar(50) NOT NULL,
	"target_type" varchar(20) NOT NULL,
	"target_id" uuid,
	"request_id" varchar(200),
	"changes" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "audit_events_id_at_pk" PRIMARY KEY("id","at")
) PARTITION BY RANGE ("at");
--> statement-breakpoint
-- Partition names and bounds as maintainPartitions (src/queries/partitions.ts) makes
-- them: <table>_y<yyyy>m<mm>, FROM the first instant of the month (UTC) TO the next.
DO $$
DECLARE
	month date;
	next_month date;
	suffix text;
BEGIN
	FOR month IN
		SELECT DISTINCT date_trunc('month', scheduled_at AT TIME ZONE 'UTC')::date
			FROM job_executions_unpartitioned
		UNION
		SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date
			FROM generate_series(0, 3) AS m
	LOOP
		next_month := (month + interval '1 month')::date;
		suffix := to_char(month, '"y"YYYY"m"MM');
		EXECUTE format(
			'CREATE TABLE %I PARTITION OF job_executions FOR VALUES FROM (%L) TO (%L)',
			'job_executions_' || suffix, month::text || ' 00:00:00+00', next_month::text || ' 00:00:00+00');
		EXECUTE format(
			'CREATE TABLE %I PARTITION OF execution_rollups FOR VALUES FROM (%L) TO (%L)',
			'execution_rollups_' || suffix, month::text, next_month::text);
	END LOOP;
	FOR month IN
		SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => m))::date
			FROM generate_series(0, 3) AS m
	LOOP
		EXECUTE format(
			'CREATE TABLE %I PARTITION OF audit_events FOR VALUES FROM (%L) TO (%L)',
			'audit_events_' || to_char(month, '"y"YYYY"m"MM'),
			month::text || ' 00:00:00+00', (month + interval '1 month')::date::text || ' 00:00:00+00');
	END LOOP;
END $$;
--> statement-breakpoint
-- A row whose month has no partition (a far-future slot, or maintenance not run for
-- months) lands here instead of failing its insert; maintainPartitions moves such rows
-- into a partition of their own month.
CREATE TABLE "job_executions_default" PARTITION OF "job_executions" DEFAULT;
--> statement-breakpoint
CREATE TABLE "execution_rollups_default" PARTITION OF "execution_rollups" DEFAULT;
--> statement-breakpoint
CREATE TABLE "audit_events_default" PARTITION OF "audit_events" DEFAULT;
--> statement-breakpoint
INSERT INTO "job_executions" ("id", "job_id", "execution_id", "trigger_type", "triggered_by",
	"status", "progress", "scheduled_at", "started_at", "completed_at", "duration_ms", "result",
	"error_type", "error_message", "error_stack", "retry_count", "worker_id", "memory_peak_mb",
	"cpu_time_ms", "tenant_id", "created_at")
SELECT "id", "job_id", "execution_id", "trigger_type", "triggered_by",
	"status", "progress", "scheduled_at", "started_at", "completed_at", "duration_ms", "result",
	"error_type", "error_message", "error_stack", "retry_count", "worker_id", "memory_peak_mb",
	"cpu_time_ms", "tenant_id", "created_at"
FROM "job_executions_unpartitioned";
--> statement-breakpoint
DROP TABLE "job_executions_unpartitioned";
--> statement-breakpoint
ALTER TABLE "job_executions" ADD CONSTRAINT "job_executions_id_scheduled_at_pk" PRIMARY KEY("id","scheduled_at");
--> statement-breakpoint
ALTER TABLE "job_executions" ADD CONSTRAINT "job_executions_execution_id_scheduled_at_unique" UNIQUE("execution_id","scheduled_at");
--> statement-breakpoint
ALTER TABLE "job_executions" ADD CONSTRAINT "job_executions_job_id_scheduled_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."scheduled_jobs"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
CREATE UNIQUE INDEX "uq_job_executions_scheduled_slot" ON "job_executions" USING btree ("job_id","scheduled_at") WHERE "job_executions"."trigger_type" = 'scheduled';
--> statement-breakpoint
CREATE INDEX "idx_job_executions_tenant_scheduled" ON "job_executions" USING btree ("tenant_id","scheduled_at","id");
--> statement-breakpoint
CREATE INDEX "idx_job_executions_tenant_status" ON "job_executions" USING btree ("tenant_id","status","scheduled_at","id");
--> statement-breakpoint
CREATE INDEX "idx_job_executions_tenant_trigger" ON "job_executions" USING btree ("tenant_id","trigger_type","scheduled_at","id");
--> statement-breakpoint
CREATE INDEX "idx_job_executions_job_scheduled" ON "job_executions" USING btree ("job_id","scheduled_at","id");
--> statement-breakpoint
CREATE INDEX "idx_job_executions_in_flight" ON "job_executions" USING btree ("status","job_id") WHERE "job_executions"."status" IN ('pending', 'running');
--> statement-breakpoint
CREATE INDEX "idx_audit_events_tenant_at" ON "audit_events" USING btree ("tenant_id","at","id");
--> statement-breakpoint
CREATE INDEX "idx_audit_events_tenant_action" ON "audit_events" USING btree ("tenant_id","action","at","id");
--> statement-breakpoint
CREATE INDEX "idx_audit_events_tenant_target" ON "audit_events" USING btree ("tenant_id","target_id","at","id");
--> statement-breakpoint
-- The jobs list orders by created_at DESC, id DESC (NULLS FIRST): 0000's DESC NULLS LAST
-- index could not serve it; an ascending one scanned backward does.
DROP INDEX "idx_scheduled_jobs_tenant_created";
--> statement-breakpoint
CREATE INDEX "idx_scheduled_jobs_tenant_created" ON "scheduled_jobs" USING btree ("tenant_id","created_at","id");
--> statement-breakpoint
-- 4. Rollup maintenance. Durations are bucketed log-linearly: exact below 64 ms, then 32
--    buckets per power of two, so a bucket's midpoint is within 1.6 % of any duration in
--    it (durationBucket() in src/queries/stats.ts is the same function for the API).
CREATE FUNCTION execution_duration_bucket(duration_ms integer) RETURNS smallint
	LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT (CASE
		WHEN duration_ms IS NULL THEN -1
		WHEN duration_ms < 64 THEN greatest(duration_ms, 0)
		ELSE 32 * (length(ltrim(duration_ms::bit(32)::text, '0')) - 6)
			+ (duration_ms >> (length(ltrim(duration_ms::bit(32)::text, '0')) - 6))
	END)::smallint
$$;
--> statement-breakpoint
-- One execution's contribution to the rollups: +1 when it is counted, -1 when it stops
-- being counted as it was (an update or a delete).
CREATE TYPE execution_rollup_delta AS (
	tenant_id uuid, job_id uuid, scheduled_at timestamptz, status text, duration_ms integer,
	error_type text, retry_count integer, sign integer);
--> statement-breakpoint
-- Adds each ended execution of `deltas` to its job's row and to the tenant's (job_id
-- all zeros). Rows are upserted in key order, so two transactions lock shared rollup
-- rows in the same order and cannot deadlock on them. Pending and running executions
-- are not rolled up: the stats count them live.
CREATE FUNCTION execution_rollups_apply(deltas execution_rollup_delta[]) RETURNS void
	-- PL/pgSQL, not SQL: its statement's plan is kept for the session, where a SQL
	-- function's would be made again on every call, i.e. on every terminal write.
	LANGUAGE plpgsql AS $$
BEGIN
	WITH ended AS (
		SELECT e.tenant_id, e.job_id, (e.scheduled_at AT TIME ZONE 'UTC')::date AS day, e.status,
			CASE WHEN e.status IN ('completed', 'failed') THEN execution_duration_bucket(e.duration_ms) ELSE -1 END AS bucket,
			e.sign,
			CASE WHEN e.status IN ('completed', 'failed') THEN coalesce(e.duration_ms, 0) ELSE 0 END AS duration_ms,
			(e.error_type IS NOT DISTINCT FROM 'TIMEOUT')::int AS timeout,
			(e.retry_count > 0)::int AS retried
		FROM unnest(deltas) AS e
		WHERE e.status IN ('completed', 'failed', 'cancelled', 'skipped')
	), changes AS (
		SELECT x.tenant_id, k.job_id, x.day, x.status, x.bucket,
			sum(x.sign)::int AS executions, sum(x.sign * x.duration_ms)::bigint AS duration_sum_ms,
			sum(x.sign * x.timeout)::int AS timeouts, sum(x.sign * x.retried)::int AS retried
		FROM ended x
		CROSS JOIN LATERAL (VALUES ('00000000-0000-0000-0000-000000000000'::uuid), (x.job_id)) AS k(job_id)
		GROUP BY x.tenant_id, k.job_id, x.day, x.status, x.bucket
		HAVING sum(x.sign) <> 0 OR sum(x.sign * x.duration_ms) <> 0
			OR sum(x.sign * x.timeout) <> 0 OR sum(x.sign * x.retried) <> 0
	)
	INSERT INTO execution_rollups AS r
		(tenant_id, job_id, day, status, duration_bucket, executions, duration_sum_ms, timeouts, retried)
	SELECT * FROM changes ORDER BY tenant_id, job_id, day, status, bucket
	ON CONFLICT (tenant_id, job_id, day, status, duration_bucket) DO UPDATE SET
		executions = r.executions + excluded.executions,
		duration_sum_ms = r.duration_sum_ms + excluded.duration_sum_ms,
		timeouts = r.timeouts + excluded.timeouts,
		retried = r.retried + excluded.retried;
END
$$;
--> statement-breakpoint
-- Statement-level, so a scheduler batch of thousands of slots costs one upsert, and a
-- progress or pending → running update only finds nothing to add. A DELETE (a job's
-- history going with the job) subtracts. Dropping a partition fires nothing, so
-- retention drops the rollups' partition of the same month with it.
CREATE FUNCTION job_executions_rollup() RETURNS trigger
	LANGUAGE plpgsql AS $$
DECLARE
	deltas execution_rollup_delta[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		deltas := ARRAY(
			SELECT ROW(n.tenant_id, n.job_id, n.scheduled_at, n.status, n.duration_ms, n.error_type, n.retry_count, 1)::execution_rollup_delta
			FROM new_rows n WHERE n.status IN ('completed', 'failed', 'cancelled', 'skipped'));
	ELSIF TG_OP = 'UPDATE' THEN
		deltas := ARRAY(
			SELECT ROW(n.tenant_id, n.job_id, n.scheduled_at, n.status, n.duration_ms, n.error_type, n.retry_count, 1)::execution_rollup_delta
			FROM new_rows n WHERE n.status IN ('completed', 'failed', 'cancelled', 'skipped')
			UNION ALL
			SELECT ROW(o.tenant_id, o.job_id, o.scheduled_at, o.status, o.duration_ms, o.error_type, o.retry_count, -1)::execution_rollup_delta
			FROM old_rows o WHERE o.status IN ('completed', 'failed', 'cancelled', 'skipped'));
	ELSE
		deltas := ARRAY(
			SELECT ROW(o.tenant_id, o.job_id, o.scheduled_at, o.status, o.duration_ms, o.error_type, o.retry_count, -1)::execution_rollup_delta
			FROM old_rows o WHERE o.status IN ('completed', 'failed', 'cancelled', 'skipped'));
	END IF;
	-- Most updates (pending → running, progress) touch no ended execution.
	IF cardinality(deltas) = 0 THEN
		RETURN NULL;
	END IF;
	PERFORM execution_rollups_apply(deltas);
	IF TG_OP = 'DELETE' THEN
		-- A deleted job leaves rows that sum to zero; keep the table to live data.
		DELETE FROM execution_rollups r
			USING (SELECT DISTINCT o.tenant_id, o.job_id, (o.scheduled_at AT TIME ZONE 'UTC')::date AS day
				FROM old_rows o) AS d
			WHERE r.tenant_id = d.tenant_id AND r.job_id IN (d.job_id, '00000000-0000-0000-0000-000000000000')
				AND r.day = d.day AND r.executions = 0;
	END IF;
	RETURN NULL;
END
$$;
--> statement-breakpoint
-- The rows copied above, rolled up in one pass (the triggers do not exist yet): the
-- same sums as execution_rollups_apply, read straight from the table.
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
	FROM job_executions e
	WHERE e.status IN ('completed', 'failed', 'cancelled', 'skipped')
) x
CROSS JOIN LATERAL (VALUES ('00000000-0000-0000-0000-000000000000'::uuid), (x.job_id)) AS k(job_id)
GROUP BY x.tenant_id, k.job_id, x.day, x.status, x.bucket;
--> statement-breakpoint
CREATE TRIGGER job_executions_rollup_insert AFTER INSERT ON "job_executions"
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_executions_rollup();
--> statement-breakpoint
CREATE TRIGGER job_executions_rollup_update AFTER UPDATE ON "job_executions"
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_executions_rollup();
--> statement-breakpoint
CREATE TRIGGER job_executions_rollup_delete AFTER DELETE ON "job_executions"
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION job_executions_rollup();
