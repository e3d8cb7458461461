import { and, eq, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { scheduledJobs } from "../schema.js";

/** The columns the scheduler needs to fire a due job. */
export interface DueJob {
  id: string;
  tenantId: string;
  cronExpression: string;
  timezone: string;
  priority: number;
  misfirePolicy: string;
  endDate: Date | null;
  maxExecutions: number | null;
  executionCount: number;
  nextExecutionAt: Date;
}

/**
 * Locks up to `limit` active jobs whose slot is at or before `dueBefore`, oldest slot
 * first. SKIP LOCKED: a job another transaction holds is left to it.
 */
export async function claimDueJobs(db: Db, dueBefore: Date, limit: number): Promise<DueJob[]> {
  const t = scheduledJobs;
  const rows = await db
    .select({
      id: t.id,
      tenantId: t.tenantId,
      cronExpression: t.cronExpression,
      timezone: t.timezone,
      priority: t.priority,
      misfirePolicy: t.misfirePolicy,
      endDate: t.endDate,
      maxExecutions: t.maxExecutions,
      executionCount: t.executionCount,
      nextExecutionAt: t.nextExecutionAt,
    })
    .from(t)
    .where(and(eq(t.status, "active"), sql`${t.nextExecutionAt} <= ${dueBefore.toISOString()}`))
    .orderBy(t.nextExecutionAt)
    .limit(limit)
    .for("update", { skipLocked: true });
  return rows as DueJob[];
}

/** One job's move to its next slot, valid only if its slot is still `expectedAt`. */
export interface JobAdvance {
  id: string;
  expectedAt: Date;
  nextExecutionAt: Date | null;
  lastExecutionAt: Date;
  /** Executions this advance records (0 when the slot was skipped by policy). */
  fired: number;
  /** 'inactive' when the schedule ended (endDate or maxExecutions reached). */
  status: "active" | "inactive";
}

/**
 * Moves each job to its next slot in one statement. The compare-and-set on
 * next_execution_at makes an advance computed from a stale read change nothing.
 * Returns the ids that moved.
 */
export async function advanceJobs(db: Db, advances: JobAdvance[]): Promise<Set<string>> {
  if (advances.length === 0) return new Set();
  const values = sql.join(
    advances.map(
      (a) =>
        sql`(${a.id}::uuid, ${a.expectedAt.toISOString()}::timestamptz, ${a.nextExecutionAt?.toISOString() ?? null}::timestamptz, ${a.lastExecutionAt.toISOString()}::timestamptz, ${a.fired}::int, ${a.status}::varchar)`,
    ),
    sql`, `,
  );
  const result = await db.execute<{ id: string }>(sql`
    UPDATE scheduled_jobs AS j SET
      next_execution_at = v.next_at,
      last_execution_at = CASE WHEN v.fired > 0 THEN v.last_at ELSE j.last_execution_at END,
      execution_count = j.execution_count + v.fired,
      status = v.status,
      updated_at = CASE WHEN v.status <> j.status THEN now() ELSE j.updated_at END
    FROM (VALUES ${values}) AS v(id, expected_at, next_at, last_at, fired, status)
    WHERE j.id = v.id AND j.next_execution_at = v.expected_at AND j.status = 'active'
    RETURNING j.id`);
  return new Set(result.rows.map((r) => r.id));
}

/** The database clock: the one time every process agrees on. */
export async function databaseNow(db: Db): Promise<Date> {
  const result = await db.execute<{ now: Date }>(sql`SELECT now() AS now`);
  return new Date(result.rows[0]!.now);
}
