import { and, asc, eq, gt, inArray, lte, or, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { type ExecutionRow, jobExecutions, scheduledJobs } from "../schema.js";

/** The columns the scheduler needs to fire a due job. */
export interface DueJob {
  id: string;
  tenantId: string;
  cronExpression: string;
  timezone: string;
  priority: number;
  maxConcurrent: number;
  misfirePolicy: string;
  startDate: Date | null;
  endDate: Date | null;
  maxExecutions: number | null;
  executionCount: number;
  nextExecutionAt: Date;
}

/**
 * Locks up to `limit` active jobs whose slot is at or before `dueBefore`, oldest slot
 * first. SKIP LOCKED: a job another transaction holds is left to it. Served by the
 * partial index on next_execution_at (status = 'active').
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
      maxConcurrent: t.maxConcurrent,
      misfirePolicy: t.misfirePolicy,
      startDate: t.startDate,
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

/**
 * Per job, its executions in flight at `now`: `running`, or `pending` with a slot at or
 * before `now` (due and queued but not started). Jobs with none are absent.
 */
export async function countInFlightExecutions(
  db: Db,
  jobIds: string[],
  now: Date,
): Promise<Map<string, number>> {
  if (jobIds.length === 0) return new Map();
  const t = jobExecutions;
  const rows = await db
    .select({ jobId: t.jobId, count: sql<number>`count(*)::int` })
    .from(t)
    .where(
      and(
        inArray(t.jobId, jobIds),
        inArray(t.status, ["pending", "running"]),
        or(eq(t.status, "running"), lte(t.scheduledAt, now)),
      ),
    )
    .groupBy(t.jobId);
  return new Map(rows.map((r) => [r.jobId, r.count]));
}

/** One job's move to its next slot, valid only if its slot is still `expectedAt`. */
export interface JobAdvance {
  id: string;
  expectedAt: Date;
  nextExecutionAt: Date | null;
  lastExecutionAt: Date;
  /** Executions this advance records to run (0 when every slot was skipped). */
  fired: number;
  /** 'inactive' when the schedule ended (endDate or maxExecutions reached). */
  status: "active" | "inactive";
}

/**
 * Moves each job to its next slot in one statement. The compare-and-set on
 * next_execution_at makes an advance computed from a stale read change nothing.
 * Returns the ids that moved. One array parameter per column (unnest), so a batch of
 * thousands costs one short statement to parse and meets no parameter limit.
 */
export async function advanceJobs(db: Db, advances: JobAdvance[]): Promise<Set<string>> {
  if (advances.length === 0) return new Set();
  const column = <T>(pick: (a: JobAdvance) => T) => sql.param(advances.map(pick));
  const result = await db.execute<{ id: string }>(sql`
    UPDATE scheduled_jobs AS j SET
      next_execution_at = v.next_at,
      last_execution_at = CASE WHEN v.fired > 0 THEN v.last_at ELSE j.last_execution_at END,
      execution_count = j.execution_count + v.fired,
      status = v.status,
      updated_at = CASE WHEN v.status <> j.status THEN now() ELSE j.updated_at END
    FROM unnest(
      ${column((a) => a.id)}::uuid[],
      ${column((a) => a.expectedAt)}::timestamptz[],
      ${column((a) => a.nextExecutionAt)}::timestamptz[],
      ${column((a) => a.lastExecutionAt)}::timestamptz[],
      ${column((a) => a.fired)}::int[],
      ${column((a) => a.status)}::varchar[]
    ) AS v(id, expected_at, next_at, last_at, fired, status)
    WHERE j.id = v.id AND j.next_execution_at = v.expected_at AND j.status = 'active'
    RETURNING j.id`);
  return new Set(result.rows.map((r) => r.id));
}

/** The execution row of one scheduled slot, as a claim records it. */
export interface SlotExecution {
  jobId: string;
  tenantId: string;
  /** '<jobId>:<slot epoch ms>' */
  executionId: string;
  scheduledAt: Date;
  status: "pending" | "skipped";
  /** Why a skipped slot was skipped. */
  errorMessage: string | null;
}

/** What the scheduler needs back of a recorded slot to enqueue it. */
export type RecordedSlot = Pick<
  ExecutionRow,
  "id" | "jobId" | "tenantId" | "executionId" | "scheduledAt" | "status"
>;

/**
 * Inserts scheduled slots' executions (trigger 'scheduled'), skipping any slot or
 * execution id that already has a row: a second claim of a slot records nothing.
 * Returns the rows inserted. One array parameter per column, as advanceJobs.
 */
export async function insertSlotExecutions(db: Db, rows: SlotExecution[]): Promise<RecordedSlot[]> {
  if (rows.length === 0) return [];
  const column = <T>(pick: (r: SlotExecution) => T) => sql.param(rows.map(pick));
  const result = await db.execute<{
    id: string;
    job_id: string;
    tenant_id: string;
    execution_id: string;
    scheduled_at: Date;
    status: string;
  }>(sql`
    INSERT INTO job_executions
      (job_id, tenant_id, execution_id, trigger_type, status, scheduled_at, error_message)
    SELECT job_id, tenant_id, execution_id, 'scheduled', status, scheduled_at, error_message
    FROM unnest(
      ${column((r) => r.jobId)}::uuid[],
      ${column((r) => r.tenantId)}::uuid[],
      ${column((r) => r.executionId)}::varchar[],
      ${column((r) => r.status)}::varchar[],
      ${column((r) => r.scheduledAt)}::timestamptz[],
      ${column((r) => r.errorMessage)}::text[]
    ) AS v(job_id, tenant_id, execution_id, status, scheduled_at, error_message)
    ON CONFLICT DO NOTHING
    RETURNING id, job_id, tenant_id, execution_id, scheduled_at, status`);
  return result.rows.map((r) => ({
    id: r.id,
    jobId: r.job_id,
    tenantId: r.tenant_id,
    executionId: r.execution_id,
    scheduledAt: new Date(r.scheduled_at),
    status: r.status,
  }));
}

/** The database clock: the one time every process agrees on. */
export async function databaseNow(db: Db): Promise<Date> {
  const result = await db.execute<{ now: Date }>(sql`SELECT now() AS now`);
  return new Date(result.rows[0]!.now);
}

/** A pending execution the reconciler may enqueue again, with its job's priority. */
export type RequeueCandidate = Pick<
  ExecutionRow,
  "id" | "executionId" | "jobId" | "tenantId" | "scheduledAt"
> & { priority: number };

/** Where a reconciler pass stopped: the last candidate it read. */
export interface RequeueCursor {
  scheduledAt: Date;
  id: string;
}

/**
 * Pending executions whose slot passed more than `olderThanMs` ago (by the database
 * clock), oldest first, after `cursor`: the leader may have died between their commit
 * and their enqueue. Enqueueing one again is idempotent (its queue job id is fixed).
 * With `newerThanMs` instead, those whose slot is later than that long ago, future ones
 * included: what a leader that just took over enqueues (a dead leader's claimed slots).
 */
export async function findRequeueCandidates(
  db: Db,
  options: ({ olderThanMs: number } | { newerThanMs: number }) & {
    limit: number;
    after?: RequeueCursor;
  },
): Promise<RequeueCandidate[]> {
  const e = jobExecutions;
  const { limit, after } = options;
  const conditions = [
    eq(e.status, "pending"),
    "olderThanMs" in options
      ? sql`${e.scheduledAt} < now() - make_interval(secs => ${options.olderThanMs / 1000})`
      : sql`${e.scheduledAt} >= now() - make_interval(secs => ${options.newerThanMs / 1000})`,
  ];
  if (after) {
    conditions.push(
      or(
        gt(e.scheduledAt, after.scheduledAt),
        and(eq(e.scheduledAt, after.scheduledAt), gt(e.id, after.id)),
      )!,
    );
  }
  return db
    .select({
      id: e.id,
      executionId: e.executionId,
      jobId: e.jobId,
      tenantId: e.tenantId,
      scheduledAt: e.scheduledAt,
      priority: scheduledJobs.priority,
    })
    .from(e)
    .innerJoin(scheduledJobs, eq(scheduledJobs.id, e.jobId))
    .where(and(...conditions))
    .orderBy(asc(e.scheduledAt), asc(e.id))
    .limit(limit);
}
