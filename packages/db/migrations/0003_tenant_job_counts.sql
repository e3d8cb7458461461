-- Each tenant's job count, kept in the statement that changes it, so the quota check on
-- a create reads one row instead of counting the tenant's jobs (docs/decisions.md).
-- Triggers rather than the API's code: every path that adds or removes jobs (the API, a
-- batch, SQL by hand, a tenant's jobs moved) keeps the count exact. The insert and
-- delete triggers are per statement, over its transition table: a batch of 1000 jobs
-- updates its tenant's row once. drizzle's migrator runs this file in one transaction;
-- the table lock keeps writes out between the backfill and the triggers.
LOCK TABLE "scheduled_jobs" IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
CREATE TABLE "tenant_job_counts" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"job_count" integer NOT NULL
);
--> statement-breakpoint
INSERT INTO "tenant_job_counts" ("tenant_id", "job_count")
SELECT "tenant_id", count(*) FROM "scheduled_jobs" GROUP BY "tenant_id";
--> statement-breakpoint
-- Adds each tenant's change; rows in tenant order, so two statements that touch the
-- same tenants lock their rows in the same order. An insert made while the setting
-- scheduler.tenant_max_jobs holds a number (the API sets it in its create statement)
-- fails with SQLSTATE SJ001 when it takes a tenant past it; DETAIL is the tenant's count
-- before the insert. The check reads the row this statement has just updated (and
-- locked until commit), so concurrent creates of a tenant each see the previous count.
CREATE FUNCTION "count_tenant_jobs"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  max_jobs integer := nullif(current_setting('scheduler.tenant_max_jobs', true), '')::integer;
  over record;
BEGIN
  IF TG_OP = 'INSERT' THEN
    WITH added AS (
      SELECT tenant_id, count(*)::integer AS n FROM inserted_jobs GROUP BY tenant_id
    ), counted AS (
      INSERT INTO tenant_job_counts AS c (tenant_id, job_count)
      SELECT tenant_id, n FROM added ORDER BY tenant_id
      ON CONFLICT (tenant_id) DO UPDATE SET job_count = c.job_count + excluded.job_count
      RETURNING c.tenant_id, c.job_count
    )
    SELECT counted.tenant_id, counted.job_count - added.n AS before INTO over
    FROM counted JOIN added USING (tenant_id)
    WHERE counted.job_count > max_jobs
    LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'tenant % may have at most % jobs', over.tenant_id, max_jobs
        USING ERRCODE = 'SJ001', DETAIL = over.before;
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO tenant_job_counts AS c (tenant_id, job_count)
    SELECT tenant_id, -count(*) FROM deleted_jobs GROUP BY tenant_id ORDER BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET job_count = c.job_count + excluded.job_count;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO tenant_job_counts AS c (tenant_id, job_count)
    SELECT tenant_id, delta FROM (VALUES (OLD.tenant_id, -1), (NEW.tenant_id, 1)) AS m (tenant_id, delta)
    ORDER BY tenant_id
    ON CONFLICT (tenant_id) DO UPDATE SET job_count = c.job_count + excluded.job_count;
  ELSE
    DELETE FROM tenant_job_counts;
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER "count_inserted_jobs" AFTER INSERT ON "scheduled_jobs"
REFERENCING NEW TABLE AS inserted_jobs FOR EACH STATEMENT EXECUTE FUNCTION "count_tenant_jobs"();
--> statement-breakpoint
CREATE TRIGGER "count_deleted_jobs" AFTER DELETE ON "scheduled_jobs"
REFERENCING OLD TABLE AS deleted_jobs FOR EACH STATEMENT EXECUTE FUNCTION "count_tenant_jobs"();
--> statement-breakpoint
-- Per row, and only when an UPDATE names tenant_id: the scheduler's updates of
-- scheduled_jobs never do, so they pay nothing for it.
CREATE TRIGGER "count_moved_jobs" AFTER UPDATE OF "tenant_id" ON "scheduled_jobs"
FOR EACH ROW WHEN (OLD."tenant_id" IS DISTINCT FROM NEW."tenant_id") EXECUTE FUNCTION "count_tenant_jobs"();
--> statement-breakpoint
CREATE TRIGGER "count_truncated_jobs" AFTER TRUNCATE ON "scheduled_jobs"
FOR EACH STATEMENT EXECUTE FUNCTION "count_tenant_jobs"();
