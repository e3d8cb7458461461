import { and, eq, inArray, lt, notInArray, sql } from "drizzle-orm";
import pg from "pg";
import { type Db, poolOf, queryPrepared, type SessionStatement } from "../client.js";
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
  | {
      kind: "skipped";
      errorMessage: string;
      /** The job's type and the execution's trigger type, for its metrics. */
      jobType: string;
      triggerType: string;
    }
  /** Ended already (cancelled, finished by an earlier delivery) or deleted with its job. */
  | { kind: "gone" };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * One execution row: its id and its slot, the partition key. A statement given both
 * reads one month's partition (docs/history.md); by id alone it probes every partition.
 */
export interface ExecutionKey {
  id: string;
  scheduledAt: Date;
}

/**
 * 1. The transaction-scoped lock on starts of the execution's job, if it may still
 * start. A row even when it may not, so that no row at all means a key that names none.
 */
const CLAIM_LOCK: SessionStatement = {
  name: "scheduler_claim_lock",
  definition: `(uuid, timestamptz) AS
    SELECT status, CASE WHEN status IN ('pending', 'running') THEN
        pg_advisory_xact_lock(hashtext('scheduler.execution-start'), hashtext(job_id::text)) END
      FROM job_executions WHERE id = $1 AND scheduled_at = $2`,
};

/**
 * 2. pending → running when the job has a free slot, else pending → skipped; running →
 * running (retryCount + 1) for a redelivery. Running executions of the job are counted
 * (every partition: one may be of any month) only for a pending one. `e.status = c.was`
 * is checked again on the row as it is when locked, so a cancel or terminal write that
 * lands first leaves it alone. `c` is MATERIALIZED so that the count runs once, not
 * once for each use of `runs` below. The row to update is named by its primary key
 * (`$1`, `$2`), not joined to `d` by id, which a plan could do by scanning the partition
 * for `scheduled_at = $2`.
 */
const CLAIM_START: SessionStatement = {
  name: "scheduler_claim_start",
  definition: `(uuid, timestamptz, text) AS
    WITH c AS MATERIALIZED (
      SELECT e.id, e.status AS was, j.max_concurrent, j.job_type, j.config, j.retry_config,
          j.timeout_seconds,
          CASE WHEN e.status = 'pending' THEN (SELECT count(*) FROM job_executions r
            WHERE r.job_id = e.job_id AND r.status = 'running' AND r.id <> e.id) END AS others
        FROM job_executions e JOIN scheduled_jobs j ON j.id = e.job_id
        WHERE e.id = $1 AND e.scheduled_at = $2 AND e.status IN ('pending', 'running')
    ), d AS (
      SELECT c.*, (c.was = 'running' OR c.others < c.max_concurrent) AS runs FROM c
    )
    UPDATE job_executions e SET
        status = CASE WHEN d.runs THEN 'running' ELSE 'skipped' END,
        worker_id = $3,
        started_at = CASE WHEN d.runs THEN COALESCE(e.started_at, clock_timestamp()) ELSE e.started_at END,
        completed_at = CASE WHEN d.runs THEN e.completed_at ELSE clock_timestamp() END,
        retry_count = CASE WHEN e.status = 'running' THEN e.retry_count + 1 ELSE e.retry_count END,
        error_message = CASE WHEN d.runs THEN e.error_message ELSE format(
          'skipped: the job already has %s running execution(s), its maxConcurrent is %s',
          d.others, d.max_concurrent) END
      FROM d
      WHERE e.id = $1 AND e.scheduled_at = $2 AND e.status = d.was
      RETURNING e.*, d.was AS claim__was, d.job_type AS job__job_type, d.config AS job__config,
        d.retry_config AS job__retry_config, d.timeout_seconds AS job__timeout_seconds,
        d.max_concurrent AS job__max_concurrent`,
};

/**
 * pending → running for one worker, with the job's maxConcurrent enforced across all
 * workers; or pending → skipped when the job's slots are taken; or running → running
 * when a dead worker's execution is delivered again (retryCount + 1, no check: it held
 * its slot all along).
 *
 * One round trip. The two statements above go in one simple-protocol message, which
 * runs as one implicit transaction with a fresh snapshot per statement (READ
 * COMMITTED): 1 takes the advisory lock on starts of the execution's job (not the job
 * row, so the scheduler's `FOR UPDATE SKIP LOCKED` claim is never held up); 2 runs
 * with a snapshot taken after the lock, so it counts every start committed before ours;
 * then the commit releases the lock with no network wait while it is held. Of two
 * workers racing for the last slot exactly one runs. Both are PREPAREd once per
 * connection and EXECUTEd with literals (the simple protocol has no parameters): the id
 * is checked to be a UUID, the worker id escaped. `scheduledAt` (the queue message
 * carries it) confines both to one partition; a message from before it did is looked up.
 *
 * Both are planned for their values on every EXECUTE (`SET LOCAL plan_cache_mode =
 * force_custom_plan`, this transaction only). A generic plan, made once per connection
 * from the statistics of that moment, saved the ~1.3 ms of planning in a short burst but
 * cost far more where it mattered: made while `scheduled_jobs` or the month's partition
 * was small, it kept scanning them as they grew (100,000 jobs: the claim at 250 ms p50
 * and PostgreSQL at 74 % of a core in an idle minute, against 13 ms and 11 % planned
 * each time; docs/worker.md). Left to `auto`, PostgreSQL may switch to the generic plan
 * after five EXECUTEs, so the mode is set rather than left to its estimate.
 */
export async function claimExecution(
  db: Db,
  key: { id: string; scheduledAt?: Date },
  workerId: string,
): Promise<ExecutionClaim> {
  const pool = poolOf(db, "claimExecution");
  if (!UUID.test(key.id)) return { kind: "gone" };
  const given = key.scheduledAt && !Number.isNaN(key.scheduledAt.getTime());
  const scheduledAt = given ? key.scheduledAt : await findScheduledAt(pool, key.id);
  if (!scheduledAt) return { kind: "gone" };
  const args = `'${key.id}', '${scheduledAt.toISOString()}'`;
  const [, locked, started] = await queryPrepared(
    pool,
    [CLAIM_LOCK, CLAIM_START],
    `SET LOCAL plan_cache_mode = force_custom_plan; EXECUTE ${CLAIM_LOCK.name}(${args}); EXECUTE ${CLAIM_START.name}(${args}, ${escapeLiteral(workerId)})`,
  );
  if (locked?.rows.length === 0 && given) {
    // No row at that slot: a message naming another slot than its row's (none is
    // written so) must not leave the execution pending; the row decides.
    const stored = await findScheduledAt(pool, key.id);
    if (stored && stored.getTime() !== scheduledAt.getTime()) {
      return claimExecution(db, { id: key.id, scheduledAt: stored }, workerId);
    }
  }
  const row = started?.rows[0] as Record<string, unknown> | undefined;
  if (!row) return { kind: "gone" };
  if (row.status === "skipped")
    return {
      kind: "skipped",
      errorMessage: row.error_message as string,
      jobType: row.job__job_type as string,
      triggerType: row.trigger_type as string,
    };
  return { kind: "run", ...runOf(row), redelivered: row.claim__was === "running" };
}

/** The slot of an execution known by id alone (every partition probed), if it exists. */
async function findScheduledAt(pool: pg.Pool, id: string): Promise<Date | undefined> {
  const { rows } = await pool.query<{ scheduled_at: Date }>({
    name: "scheduler_execution_slot",
    text: "SELECT scheduled_at FROM job_executions WHERE id = $1",
    values: [id],
  });
  return rows[0]?.scheduled_at;
}

/** The execution row (snake_case columns → ExecutionRow) and the job's `job__` columns. */
function runOf(row: Record<string, unknown>): { execution: ExecutionRow; job: RunnableJob } {
  const execution: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) {
    if (!column.startsWith("job__") && !column.startsWith("claim__"))
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

/** Writes a running execution's progress (0..100). */
export async function updateExecutionProgress(
  db: Db,
  key: ExecutionKey,
  progress: number,
): Promise<void> {
  await db
    .update(jobExecutions)
    .set({ progress })
    .where(and(isRow(key), eq(jobExecutions.status, "running")));
}

/** The row of `key`, in its own partition. */
function isRow(key: ExecutionKey) {
  return and(eq(jobExecutions.id, key.id), eq(jobExecutions.scheduledAt, key.scheduledAt));
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
