import { and, desc, eq, gte, inArray, lt, lte, or, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { type ExecutionRow, jobExecutions, scheduledJobs } from "../schema.js";
import type { ListCursor } from "./jobs.js";

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

/** A tenant's executions, newest first, `limit` rows after `cursor`. */
export async function listExecutions(
  db: Db,
  tenantId: string,
  filter: ExecutionListFilter,
  page: { limit: number; cursor?: ListCursor },
): Promise<ExecutionRow[]> {
  const t = jobExecutions;
  const conditions = [eq(t.tenantId, tenantId)];
  if (filter.jobId) conditions.push(eq(t.jobId, filter.jobId));
  if (filter.status) conditions.push(eq(t.status, filter.status));
  if (filter.triggerType) conditions.push(eq(t.triggerType, filter.triggerType));
  if (filter.from) conditions.push(gte(t.scheduledAt, filter.from));
  if (filter.to) conditions.push(lte(t.scheduledAt, filter.to));
  if (page.cursor) {
    const { createdAt, id } = page.cursor;
    conditions.push(or(lt(t.createdAt, createdAt), and(eq(t.createdAt, createdAt), lt(t.id, id)))!);
  }
  return db
    .select()
    .from(t)
    .where(and(...conditions))
    .orderBy(desc(t.createdAt), desc(t.id))
    .limit(page.limit);
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
 * cancelled meanwhile): the first terminal status wins.
 */
export async function finishExecution(
  db: Db,
  id: string,
  outcome: ExecutionOutcome,
): Promise<boolean> {
  const rows = await db
    .update(jobExecutions)
    .set({
      status: outcome.status,
      completedAt: sql`clock_timestamp()`,
      durationMs: sql`GREATEST(0, (EXTRACT(EPOCH FROM clock_timestamp() - ${jobExecutions.startedAt}) * 1000)::int)`,
      result: outcome.result ?? null,
      errorType: outcome.errorType ?? null,
      errorMessage: outcome.errorMessage ?? null,
      errorStack: outcome.errorStack ?? null,
      retryCount: outcome.retryCount ?? 0,
      memoryPeakMb: outcome.memoryPeakMb ?? null,
      cpuTimeMs: outcome.cpuTimeMs ?? null,
      progress: outcome.status === "completed" ? 100 : jobExecutions.progress,
    })
    .where(and(eq(jobExecutions.id, id), eq(jobExecutions.status, "running")))
    .returning({ id: jobExecutions.id });
  return rows.length > 0;
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
