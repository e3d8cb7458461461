import { and, desc, eq, gte, inArray, lt, lte, or, type SQL, sql } from "drizzle-orm";
import { type Db, poolOf } from "../client.js";
import { type ExecutionRow, jobExecutions, scheduledJobs } from "../schema.js";
import { storableJson, storableTextOrNull } from "../storable.js";
import type { ExecutionKey } from "./executionRuns.js";

export type NewExecution = typeof jobExecutions.$inferInsert;

/**
 * Inserts executions, skipping any whose executionId or scheduled slot already has a
 * row (a second claim of the same slot records nothing). Returns the rows inserted.
 */
export async function insertExecutions(db: Db, rows: NewExecution[]): Promise<ExecutionRow[]> {
  if (rows.length === 0) return [];
  return db.insert(jobExecutions).values(rows).onConflictDoNothing().returning();
}

export async function findExecution(
  db: Db,
  tenantId: string,
  id: string,
): Promise<ExecutionRow | undefined> {
  const [row] = await db
    .select()
    .from(jobExecutions)
    .where(and(eq(jobExecutions.tenantId, tenantId), eq(jobExecutions.id, id)));
  return row;
}

export interface ExecutionListFilter {
  jobId?: string;
  status?: string;
  triggerType?: string;
  /** scheduledAt ≥ from */
  from?: Date;
  /** scheduledAt ≤ to */
  to?: Date;
}

/** Position after which a page of executions starts: the last row of the previous page. */
export interface ExecutionCursor {
  scheduledAt: Date;
  id: string;
}

/**
 * A tenant's executions, newest first by scheduledAt (then id), `limit` rows after
 * `cursor`. Ordering by the partition key lets the planner prune months outside
 * from/to and the cursor, and walk each month's index backward (docs/history.md).
 * The cursor's instant is also a plain upper bound, so a later page starts in the index
 * at its position rather than filtering every newer row.
 */
export async function listExecutions(
  db: Db,
  tenantId: string,
  filter: ExecutionListFilter,
  page: { limit: number; cursor?: ExecutionCursor },
): Promise<ExecutionRow[]> {
  const t = jobExecutions;
  const conditions = [ownedBy(tenantId, filter.jobId)];
  if (filter.status) conditions.push(eq(t.status, filter.status));
  if (filter.triggerType) conditions.push(eq(t.triggerType, filter.triggerType));
  if (filter.from) conditions.push(gte(t.scheduledAt, filter.from));
  if (filter.to) conditions.push(lte(t.scheduledAt, filter.to));
  if (page.cursor) {
    const { scheduledAt, id } = page.cursor;
    conditions.push(
      lte(t.scheduledAt, scheduledAt),
      or(lt(t.scheduledAt, scheduledAt), lt(t.id, id))!,
    );
  }
  return db
    .select()
    .from(t)
    .where(and(...conditions))
    .orderBy(desc(t.scheduledAt), desc(t.id))
    .limit(page.limit);
}

/**
 * The rows of a tenant, or of one of its jobs. For a job, the tenant is checked on the
 * job row (a one-time filter), not on each execution: tenant_id and job_id always
 * agree, which the planner cannot know, so `tenant_id = … AND job_id = …` made it
 * AND the tenant's whole index with the job's and sort the job's whole history, where
 * the job index walked backward stops after one page (bench/RESULTS.md). An execution's
 * tenant is its job's: every writer copies it from the job row.
 */
export function ownedBy(tenantId: string, jobId?: string): SQL {
  if (!jobId) return sql`${jobExecutions.tenantId} = ${tenantId}`;
  return sql`${jobExecutions.jobId} = ${jobId} AND EXISTS (
    SELECT 1 FROM ${scheduledJobs} WHERE ${scheduledJobs.id} = ${jobId} AND ${scheduledJobs.tenantId} = ${tenantId})`;
}

/** An execution about to run, with what the worker needs of its job. */
export interface StartedExecution {
  execution: ExecutionRow;
  job: {
    jobType: string;
    config: unknown;
    timeoutSeconds: number;
    status: string;
  };
}

/**
 * pending → running (or running → running when a crashed worker's attempt is
 * redelivered). Returns undefined when the execution already ended or is gone, so a
 * cancelled or finished execution is never run again.
 */
export async function startExecution(
  db: Db,
  id: string,
  workerId: string,
): Promise<StartedExecution | undefined> {
  const [execution] = await db
    .update(jobExecutions)
    .set({
      status: "running",
      workerId,
      startedAt: sql`COALESCE(${jobExecutions.startedAt}, clock_timestamp())`,
    })
    .where(and(eq(jobExecutions.id, id), inArray(jobExecutions.status, ["pending", "running"])))
    .returning();
  if (!execution) return undefined;
  const [job] = await db
    .select({
      jobType: scheduledJobs.jobType,
      config: scheduledJobs.config,
      timeoutSeconds: scheduledJobs.timeoutSeconds,
      status: scheduledJobs.status,
    })
    .from(scheduledJobs)
    .where(eq(scheduledJobs.id, execution.jobId));
  if (!job) return undefined;
  return { execution, job };
}

/** How an attempt ended, as the worker records it. */
export interface ExecutionOutcome {
  status: "completed" | "failed" | "cancelled";
  result?: unknown;
  errorType?: string | null;
  errorMessage?: string | null;
  errorStack?: string | null;
  retryCount?: number;
  memoryPeakMb?: number | null;
  cpuTimeMs?: number | null;
}

/**
 * running → completed | failed | cancelled, with the duration measured by the
 * database clock. Returns false when the execution was no longer running (it was
 * cancelled meanwhile: the first terminal status wins) or is no longer this run's: its
 * `retryCount` is the run's fence. A run knows the execution's retry count (the
 * claim's, plus the retries it recorded itself); a redelivery claimed meanwhile by
 * another worker raised it, so the superseded run, still alive (paused, or stalled past
 * its queue lock), writes nothing over the run that replaced it. A named (prepared)
 * statement, planned once per connection, that reads only the execution's own partition.
 */
export async function finishExecution(
  db: Db,
  key: ExecutionKey,
  outcome: ExecutionOutcome,
): Promise<boolean> {
  const { rowCount } = await poolOf(db, "finishExecution").query({
    name: "scheduler_finish_execution",
    text: `UPDATE job_executions SET
        status = $3::text,
        completed_at = clock_timestamp(),
        duration_ms = GREATEST(0, (EXTRACT(EPOCH FROM clock_timestamp() - started_at) * 1000)::int),
        result = $4::jsonb,
        error_type = $5::text,
        error_message = $6::text,
        error_stack = $7::text,
        retry_count = $8::int,
        memory_peak_mb = $9::int,
        cpu_time_ms = $10::int,
        progress = CASE WHEN $3::text = 'completed' THEN 100 ELSE progress END
      WHERE id = $1::uuid AND scheduled_at = $2::timestamptz AND status = 'running'
        AND retry_count = $8::int`,
    values: [
      key.id,
      key.scheduledAt,
      outcome.status,
      jsonText(outcome.result),
      outcome.errorType ?? null,
      storableTextOrNull(outcome.errorMessage),
      storableTextOrNull(outcome.errorStack),
      outcome.retryCount ?? 0,
      outcome.memoryPeakMb ?? null,
      outcome.cpuTimeMs ?? null,
    ],
  });
  return (rowCount ?? 0) > 0;
}

/** One execution's terminal write, for finishExecutions. */
export interface ExecutionFinish {
  key: ExecutionKey;
  outcome: ExecutionOutcome;
}

/**
 * finishExecution for several executions in one statement and one commit (a worker's
 * terminal writes that queued up while the previous ones were being written): each row
 * by (id, scheduled_at), each only while still running and still the run's (its retry
 * count, as finishExecution). Returns the ids whose write took
 * effect. The ids must differ. They are sent in id order, the order cancelJobExecutions
 * locks a job's executions in, so a batch walking them in turn takes its row locks in
 * that order too; a deadlock that happens all the same (another plan) fails the batch,
 * whose caller then writes each execution alone.
 */
export async function finishExecutions(db: Db, unordered: ExecutionFinish[]): Promise<Set<string>> {
  if (unordered.length === 0) return new Set();
  const finishes = unordered.toSorted((a, b) => (a.key.id < b.key.id ? -1 : 1));
  const column = <T>(pick: (f: ExecutionFinish) => T) => finishes.map(pick);
  const { rows } = await poolOf(db, "finishExecutions").query<{ id: string }>({
    name: "scheduler_finish_executions",
    text: `UPDATE job_executions e SET
        status = v.status,
        completed_at = clock_timestamp(),
        duration_ms = GREATEST(0, (EXTRACT(EPOCH FROM clock_timestamp() - e.started_at) * 1000)::int),
        result = v.result::jsonb,
        error_type = v.error_type,
        error_message = v.error_message,
        error_stack = v.error_stack,
        retry_count = v.retry_count,
        memory_peak_mb = v.memory_peak_mb,
        cpu_time_ms = v.cpu_time_ms,
        progress = CASE WHEN v.status = 'completed' THEN 100 ELSE e.progress END
      FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
          $7::text[], $8::int[], $9::int[], $10::int[])
        AS v(id, scheduled_at, status, result, error_type, error_message, error_stack,
          retry_count, memory_peak_mb, cpu_time_ms)
      WHERE e.id = v.id AND e.scheduled_at = v.scheduled_at AND e.status = 'running'
        AND e.retry_count = v.retry_count
      RETURNING e.id`,
    values: [
      column((f) => f.key.id),
      column((f) => f.key.scheduledAt),
      column((f) => f.outcome.status),
      column((f) => jsonText(f.outcome.result)),
      column((f) => f.outcome.errorType ?? null),
      column((f) => storableTextOrNull(f.outcome.errorMessage)),
      column((f) => storableTextOrNull(f.outcome.errorStack)),
      column((f) => f.outcome.retryCount ?? 0),
      column((f) => f.outcome.memoryPeakMb ?? null),
      column((f) => f.outcome.cpuTimeMs ?? null),
    ],
  });
  return new Set(rows.map((r) => r.id));
}

/**
 * A jsonb value as text (pg would send a JS array as a PostgreSQL array), without what
 * jsonb refuses (storable.ts).
 */
function jsonText(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(storableJson(value));
}

/**
 * Pending executions whose slot passed more than `olderThanMs` ago: candidates for the
 * reconciler, which enqueues them again (idempotent by queue job id).
 */
export async function findStalePendingExecutions(
  db: Db,
  olderThanMs: number,
  limit: number,
): Promise<Pick<ExecutionRow, "id" | "executionId" | "jobId" | "tenantId" | "scheduledAt">[]> {
  const t = jobExecutions;
  return db
    .select({
      id: t.id,
      executionId: t.executionId,
      jobId: t.jobId,
      tenantId: t.tenantId,
      scheduledAt: t.scheduledAt,
    })
    .from(t)
    .where(
      and(
        eq(t.status, "pending"),
        lt(t.scheduledAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`),
      ),
    )
    .orderBy(t.scheduledAt)
    .limit(limit);
}

/** An execution a cancel ended, with the status it had before. */
export interface CancelledExecution {
  execution: ExecutionRow;
  previousStatus: "pending" | "running";
}

/**
 * pending|running → cancelled, atomically: of two racing cancels, or a cancel racing
 * the worker's terminal write, exactly one wins. Undefined when the tenant has no such
 * execution; `previousStatus` null when it had already ended.
 */
export async function cancelExecution(
  db: Db,
  tenantId: string,
  id: string,
): Promise<
  { found: false } | { found: true; cancelled?: CancelledExecution; current: ExecutionRow }
> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(jobExecutions)
      .where(and(eq(jobExecutions.tenantId, tenantId), eq(jobExecutions.id, id)))
      .for("update");
    if (!current) return { found: false as const };
    if (current.status !== "pending" && current.status !== "running") {
      return { found: true as const, current };
    }
    const [execution] = await tx
      .update(jobExecutions)
      .set(cancelledColumns)
      .where(eq(jobExecutions.id, id))
      .returning();
    return {
      found: true as const,
      current: execution!,
      cancelled: { execution: execution!, previousStatus: current.status },
    };
  });
}

const cancelledColumns = {
  status: "cancelled",
  completedAt: sql`clock_timestamp()`,
  durationMs: sql`CASE WHEN ${jobExecutions.startedAt} IS NULL THEN NULL ELSE GREATEST(0, (EXTRACT(EPOCH FROM clock_timestamp() - ${jobExecutions.startedAt}) * 1000)::int) END`,
  errorType: "CANCELLED",
  errorMessage: "cancelled",
} as const;

/**
 * Cancels a job's pending and running executions (stop, delete), or with
 * `onlyPendingAfter` only its pending ones scheduled after that instant (pause).
 * Returns the executions it cancelled.
 */
export async function cancelJobExecutions(
  db: Db,
  jobId: string,
  options: { onlyPendingAfter?: Date } = {},
): Promise<CancelledExecution[]> {
  const t = jobExecutions;
  const scope = options.onlyPendingAfter
    ? and(
        eq(t.status, "pending"),
        sql`${t.scheduledAt} > ${options.onlyPendingAfter.toISOString()}`,
      )
    : inArray(t.status, ["pending", "running"]);
  const result = await db.execute<{ id: string; previous_status: "pending" | "running" }>(sql`
    WITH target AS (
      SELECT id, status FROM job_executions
      WHERE job_id = ${jobId} AND ${scope}
      ORDER BY id
      FOR UPDATE
    )
    UPDATE job_executions e SET
      status = 'cancelled',
      completed_at = clock_timestamp(),
      error_type = 'CANCELLED',
      error_message = 'cancelled'
    FROM target WHERE e.id = target.id
    RETURNING e.id, target.status AS previous_status`);
  if (result.rows.length === 0) return [];
  const rows = await db
    .select()
    .from(t)
    .where(
      inArray(
        t.id,
        result.rows.map((r) => r.id),
      ),
    );
  const previous = new Map(result.rows.map((r) => [r.id, r.previous_status]));
  return rows.map((execution) => ({ execution, previousStatus: previous.get(execution.id)! }));
}

/** Executions of a job that hold a concurrency slot: running, or pending and due. */
export async function countRunningExecutions(db: Db, jobId: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(jobExecutions)
    .where(and(eq(jobExecutions.jobId, jobId), eq(jobExecutions.status, "running")));
  return row?.n ?? 0;
}
