import { and, eq, inArray, lt, notInArray, sql } from "drizzle-orm";
import pg from "pg";
import type { Db } from "../client.js";
import { type ExecutionRow, jobExecutions } from "../schema.js";

const { escapeLiteral } = pg;

/** What the worker needs of a job to run one of its executions. */
export interface RunnableJob {
  jobType: string;
  /** As stored: secret fields still sealed. */
  config: unknown;
  retryConfig: unknown;
  timeoutSeconds: number;
  maxConcurrent: number;
}

/** What a worker may do with an execution it received from the queue. */
export type ExecutionClaim =
  | {
      kind: "run";
      execution: ExecutionRow;
      job: RunnableJob;
      /** It was already running: a crashed worker's attempt delivered again (retryCount +1). */
      redelivered: boolean;
    }
  | { kind: "skipped"; errorMessage: string }
  /** Ended already (cancelled, finished by an earlier delivery) or deleted with its job. */
  | { kind: "gone" };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Running executions of the same job besides this one, for the claim below. */
const OTHERS_RUNNING = `(SELECT count(*) FROM job_executions r
  WHERE r.job_id = e.job_id AND r.status = 'running' AND r.id <> e.id)`;

/**
 * pending → running for one worker, with the job's maxConcurrent enforced across all
 * workers; or pending → skipped when the job's slots are taken; or running → running
 * when a dead worker's execution is delivered again (retryCount + 1, no check: it held
 * its slot all along).
 *
 * One round trip. The three statements go in one simple-protocol message, which runs
 * as one implicit transaction with a fresh snapshot per statement (READ COMMITTED):
 * 1. takes the transaction-scoped advisory lock on starts of the execution's job (not
 *    the job row, so the scheduler's `FOR UPDATE SKIP LOCKED` claim is never held up);
 * 2. marks the execution running if the job has a free slot: its snapshot is taken
 *    after the lock, so it counts every start committed before ours;
 * 3. marks it skipped if it is still pending (2 did not take it);
 * then commits, releasing the lock with no network wait while it is held. Of two
 * workers racing for the last slot exactly one runs. The simple protocol has no
 * parameters, so values are inlined as literals: the id is checked to be a UUID, the
 * worker id escaped.
 */
export async function claimExecution(
  db: Db,
  id: string,
  workerId: string,
): Promise<ExecutionClaim> {
  if (!UUID.test(id)) return { kind: "gone" };
  const client = (db as unknown as { $client?: pg.Pool }).$client;
  if (!client) throw new Error("claimExecution needs the database handle, not a transaction");
  const worker = escapeLiteral(workerId);
  const text = `
    SELECT status, pg_advisory_xact_lock(hashtext('scheduler.execution-start'), hashtext(job_id::text))
      FROM job_executions WHERE id = '${id}' AND status IN ('pending', 'running');
    UPDATE job_executions e SET
        status = 'running',
        worker_id = ${worker},
        started_at = COALESCE(e.started_at, clock_timestamp()),
        retry_count = CASE WHEN e.status = 'running' THEN e.retry_count + 1 ELSE e.retry_count END
      FROM scheduled_jobs j
      WHERE e.id = '${id}' AND j.id = e.job_id AND e.status IN ('pending', 'running')
        AND (e.status = 'running' OR ${OTHERS_RUNNING} < j.max_concurrent)
      RETURNING e.*, j.job_type AS job__job_type, j.config AS job__config,
        j.retry_config AS job__retry_config, j.timeout_seconds AS job__timeout_seconds,
        j.max_concurrent AS job__max_concurrent;
    UPDATE job_executions e SET
        status = 'skipped',
        worker_id = ${worker},
        completed_at = clock_timestamp(),
        error_message = format('skipped: the job already has %s running execution(s), its maxConcurrent is %s',
          ${OTHERS_RUNNING}, j.max_concurrent)
      FROM scheduled_jobs j
      WHERE e.id = '${id}' AND j.id = e.job_id AND e.status = 'pending'
      RETURNING e.error_message;`;
  const results = (await client.query(text)) as unknown as pg.QueryResult[];
  const [locked, started, skipped] = results.map((r) => r.rows);
  const row = started?.[0];
  if (row) return { kind: "run", ...runOf(row), redelivered: locked?.[0]?.status === "running" };
  const errorMessage = skipped?.[0]?.error_message as string | undefined;
  return errorMessage ? { kind: "skipped", errorMessage } : { kind: "gone" };
}

/** The execution row (snake_case columns → ExecutionRow) and the job's `job__` columns. */
function runOf(row: Record<string, unknown>): { execution: ExecutionRow; job: RunnableJob } {
  const execution: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) {
    if (!column.startsWith("job__"))
      execution[column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return {
    execution: execution as ExecutionRow,
    job: {
      jobType: row.job__job_type as string,
      config: row.job__config,
      retryConfig: row.job__retry_config,
      timeoutSeconds: row.job__timeout_seconds as number,
      maxConcurrent: row.job__max_concurrent as number,
    },
  };
}

/** Records that an attempt failed and another follows. False once the execution is no longer running. */
export async function recordRetry(db: Db, id: string, retryCount: number): Promise<boolean> {
  const rows = await db
    .update(jobExecutions)
    .set({ retryCount })
    .where(and(eq(jobExecutions.id, id), eq(jobExecutions.status, "running")))
    .returning({ id: jobExecutions.id });
  return rows.length > 0;
}

/** Writes a running execution's progress (0..100). */
export async function updateExecutionProgress(db: Db, id: string, progress: number): Promise<void> {
  await db
    .update(jobExecutions)
    .set({ progress })
    .where(and(eq(jobExecutions.id, id), eq(jobExecutions.status, "running")));
}

/** Of these executions, the ids of those cancelled (a worker that missed the cancel signal aborts them). */
export async function findCancelledExecutionIds(db: Db, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .select({ id: jobExecutions.id })
    .from(jobExecutions)
    .where(and(inArray(jobExecutions.id, ids), eq(jobExecutions.status, "cancelled")));
  return rows.map((r) => r.id);
}

/** A running execution whose worker is no longer alive. */
export interface OrphanedExecution {
  id: string;
  executionId: string;
  workerId: string;
}

/**
 * Running executions held by none of `liveWorkerIds` and started more than `olderThanMs`
 * ago (database clock): candidates for the reaper, which checks the queue before
 * ending them.
 */
export async function findOrphanedExecutions(
  db: Db,
  liveWorkerIds: string[],
  olderThanMs: number,
  limit: number,
): Promise<OrphanedExecution[]> {
  const t = jobExecutions;
  const conditions = [
    eq(t.status, "running"),
    lt(t.startedAt, sql`now() - make_interval(secs => ${olderThanMs / 1000})`),
  ];
  if (liveWorkerIds.length > 0) conditions.push(notInArray(t.workerId, liveWorkerIds));
  const rows = await db
    .select({ id: t.id, executionId: t.executionId, workerId: t.workerId })
    .from(t)
    .where(and(...conditions))
    .orderBy(t.startedAt)
    .limit(limit);
  return rows.map((r) => ({ ...r, workerId: r.workerId ?? "" }));
}

/**
 * running → failed (SYSTEM_ERROR) for an execution whose worker died and which the
 * queue will not deliver again; only while `workerId` still holds it, so an execution
 * another worker took over meanwhile is left alone.
 */
export async function failOrphanedExecution(
  db: Db,
  id: string,
  workerId: string,
  errorMessage: string,
): Promise<boolean> {
  const t = jobExecutions;
  const rows = await db
    .update(t)
    .set({
      status: "failed",
      completedAt: sql`clock_timestamp()`,
      durationMs: sql`GREATEST(0, (EXTRACT(EPOCH FROM clock_timestamp() - ${t.startedAt}) * 1000)::int)`,
      errorType: "SYSTEM_ERROR",
      errorMessage,
    })
    .where(and(eq(t.id, id), eq(t.status, "running"), eq(t.workerId, workerId)))
    .returning({ id: t.id });
  return rows.length > 0;
}
