-- Autovacuum settings of the tables every run writes (docs/history.md, "Statistics"):
-- analyzed after 2 % of their rows changed instead of 10 %, vacuumed after 5 % updated
-- or inserted instead of 20 %, so statistics keep up with tables that grow from empty
-- and an insert-only month keeps its visibility map for index-only scans. A
-- partitioned table's own settings are no partition's, so every partition of
-- job_executions and execution_rollups gets them here, and maintainPartitions gives
-- them to the partitions it makes later (HOT_TABLE_AUTOVACUUM, src/queries/partitions.ts:
-- the same list). Storage parameters only: drizzle's schema has no notion of them, so
-- meta/0002_snapshot.json is 0001's.
ALTER TABLE "scheduled_jobs" SET (autovacuum_analyze_scale_factor=0.02, autovacuum_vacuum_scale_factor=0.05, autovacuum_vacuum_insert_scale_factor=0.05);
--> statement-breakpoint
DO $$
DECLARE
	part regclass;
BEGIN
	FOR part IN
		SELECT i.inhrelid::regclass FROM pg_inherits i
			WHERE i.inhparent IN ('job_executions'::regclass, 'execution_rollups'::regclass)
	LOOP
		EXECUTE format('ALTER TABLE %s SET (autovacuum_analyze_scale_factor=0.02, autovacuum_vacuum_scale_factor=0.05, autovacuum_vacuum_insert_scale_factor=0.05)', part);
	END LOOP;
END $$;
