import pg from "pg";
import { type Db, poolOf, queryPrepared, type SessionStatement } from "../client.js";
import type { ExecutionRow } from "../schema.js";
import type { ExecutionKey } from "./executionRuns.js";

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
 * 1. The transaction-scoped locks on starts of the jobs of the pending executions among
 * `(ids, slots)`, taken in the order of their lock keys, so two batches whose jobs
 * overlap take them in the same order and never wait on each other in a cycle (ordering
 * by job id would not do: two jobs may share a key). A row for every execution found at
 * its slot, whatever its status, so that no row names a key that names none. The
 * subquery is sorted and not flattened (`OFFSET 0`), and the lock function, volatile, is
 * evaluated after the sort, row by row in key order. A running execution (a
 * redelivery) takes no lock: it is not counted against maxConcurrent.
 */
const CLAIM_LOCKS: SessionStatement = {
  name: "scheduler_claim_locks",
  definition: `(uuid[], timestamptz[]) AS
    SELECT s.id, CASE WHEN s.status = 'pending' THEN
        pg_advisory_xact_lock(hashtext('scheduler.execution-start'), s.lock_key) END
      FROM (SELECT e.id, e.status, hashtext(e.job_id::text) AS lock_key
          FROM unnest($1, $2) AS v(id, scheduled_at)
          JOIN job_executions e ON e.id = v.id AND e.scheduled_at = v.scheduled_at
          ORDER BY lock_key OFFSET 0) s`,
};

/**
 * 2. For every execution of the batch still pending or running: pending → running while
 * its job has a free slot, else pending → skipped; running → running (retryCount + 1)
 * for a redelivery. `c` reads each row by its primary key (the status is tested only
 * after, in `d`: a test in `c` would let a plan find the rows through the index of
 * in-flight executions, all of them, instead of by key) and its job by id; `k` counts
 * the running executions (every partition: one may be of any month) once per job that
 * has a pending execution in the batch, none for a job with only redeliveries; `d`
 * gives the job's pending executions of the batch its free slots in slot order, so two
 * of one job in one batch never both take its last slot. `e.status = d.was` is checked
 * again on the row as it is when locked, so a cancel or terminal write that lands first
 * leaves it alone (the slot it would have taken then goes unused by this batch: never
 * more than maxConcurrent). `d` is sorted by id, the order terminal writes and cancels
 * lock a job's rows in.
 */
const CLAIM_STARTS: SessionStatement = {
  name: "scheduler_claim_starts",
  definition: `(uuid[], timestamptz[], text) AS
    WITH c AS MATERIALIZED (
      SELECT e.id, e.scheduled_at, e.job_id, e.status AS was, v.n, j.max_concurrent,
          j.job_type, j.config, j.retry_config, j.timeout_seconds
        FROM unnest($1, $2) WITH ORDINALITY AS v(id, scheduled_at, n)
        JOIN job_executions e ON e.id = v.id AND e.scheduled_at = v.scheduled_at
        JOIN scheduled_jobs j ON j.id = e.job_id
    ), k AS MATERIALIZED (
      SELECT p.job_id, (SELECT count(*) FROM job_executions r
          WHERE r.job_id = p.job_id AND r.status = 'running') AS running
        FROM (SELECT DISTINCT job_id FROM c WHERE was = 'pending') p
    ), d AS MATERIALIZED (
      SELECT c.*, k.running,
          c.was = 'running' OR k.running + row_number() OVER (
            PARTITION BY c.job_id, c.was ORDER BY c.scheduled_at, c.n) <= c.max_concurrent AS runs
        FROM c LEFT JOIN k ON k.job_id = c.job_id
        WHERE c.was IN ('pending', 'running')
        ORDER BY c.id
    )
    UPDATE job_executions e SET
        status = CASE WHEN d.runs THEN 'running' ELSE 'skipped' END,
        worker_id = $3,
        started_at = CASE WHEN d.runs THEN COALESCE(e.started_at, clock_timestamp()) ELSE e.started_at END,
        completed_at = CASE WHEN d.runs THEN e.completed_at ELSE clock_timestamp() END,
        retry_count = CASE WHEN e.status = 'running' THEN e.retry_count + 1 ELSE e.retry_count END,
        error_message = CASE WHEN d.runs THEN e.error_message ELSE format(
          'skipped: the job already has %s running execution(s), its maxConcurrent is %s',
          GREATEST(d.running, d.max_concurrent), d.max_concurrent) END
      FROM d
      WHERE e.id = d.id AND e.scheduled_at = d.scheduled_at AND e.status = d.was
      RETURNING e.*, d.was AS claim__was, d.job_type AS job__job_type, d.config AS job__config,
        d.retry_config AS job__retry_config, d.timeout_seconds AS job__timeout_seconds,
        d.max_concurrent AS job__max_concurrent`,
};

/**
 * How both statements are planned: once per connection (a generic plan, so no claim
 * spends time planning), and driven by indexes whatever the statistics say. A generic
 * plan is made from the statistics of its moment, and one made while `scheduled_jobs`
 * or the month's partition was small scanned them whole as they grew (docs/worker.md).
 * With sequential scans, hash and merge joins priced out, the only plan left walks the
 * batch's keys and reaches each row, job and count through an index: the same plan on
 * an empty database as on a large one. `SET LOCAL`: this transaction only.
 */
export const CLAIM_PLAN_SETTINGS = [
  "SET LOCAL plan_cache_mode = force_generic_plan",
  "SET LOCAL enable_seqscan = off",
  "SET LOCAL enable_hashjoin = off",
  "SET LOCAL enable_mergejoin = off",
].join("; ");

/** The slot of an execution, as a key to claim it by; the id need not name a row. */
export interface ClaimKey {
  id: string;
  /** Absent or invalid in a message queued by an earlier version: looked up by id. */
  scheduledAt?: Date;
}

/**
 * pending → running for one worker, with the job's maxConcurrent enforced across all
 * workers and among the batch's own executions of a job; or pending → skipped when the
 * job's slots are taken; or running → running when a dead worker's execution is
 * delivered again (retryCount + 1, no count: it held its slot all along). The claim of
 * each key by id; a key with no entry is `gone` (ended, deleted, never existed).
 *
 * One round trip and one commit for the whole batch. The two statements above go in one
 * simple-protocol message, which runs as one implicit transaction with a fresh snapshot
 * per statement (READ COMMITTED): 1 takes the advisory locks on starts of the batch's
 * jobs (not the job rows, so the scheduler's `FOR UPDATE SKIP LOCKED` claim is never
 * held up); 2 runs with a snapshot taken after them, so it counts every start committed
 * before ours; then the commit releases the locks with no network wait while they are
 * held. They cannot be one statement: a statement's snapshot is taken before any lock
 * it takes. Both are PREPAREd once per connection and EXECUTEd with literals (the simple
 * protocol has no parameters): ids are checked to be UUIDs, the worker id escaped.
 * `scheduledAt` (the queue message carries it) confines each row to one partition; a
 * key without one, or naming a slot its row does not have, is looked up by id.
 */
export async function claimExecutions(
  db: Db,
  keys: ClaimKey[],
  workerId: string,
): Promise<Map<string, ExecutionClaim>> {
  const pool = poolOf(db, "claimExecutions");
  const claims = new Map<string, ExecutionClaim>();
  const isGiven = (k: ClaimKey) => k.scheduledAt && !Number.isNaN(k.scheduledAt.getTime());
  // One key per id: a row named twice in one UPDATE would be updated once, arbitrarily.
  const byId = new Map(keys.filter((k) => UUID.test(k.id)).map((k) => [k.id, k]));
  const valid = [...byId.values()];
  const unslotted = valid.filter((k) => !isGiven(k)).map((k) => k.id);
  const found = await findScheduledAts(pool, unslotted);
  const slotted: ExecutionKey[] = valid.flatMap((k) => {
    const scheduledAt = isGiven(k) ? k.scheduledAt : found.get(k.id);
    return scheduledAt ? [{ id: k.id, scheduledAt }] : [];
  });
  const missing = await claimSlotted(pool, slotted, workerId, claims);
  // No row at the given slot: a message naming another slot than its row's (none is
  // written so) must not leave the execution pending; the row decides.
  const stored = await findScheduledAts(
    pool,
    missing.filter((k) => isGiven(byId.get(k.id)!)).map((k) => k.id),
  );
  const moved = missing.flatMap((k) => {
    const scheduledAt = stored.get(k.id);
    return scheduledAt && scheduledAt.getTime() !== k.scheduledAt.getTime()
      ? [{ id: k.id, scheduledAt }]
      : [];
  });
  if (moved.length > 0) await claimSlotted(pool, moved, workerId, claims);
  return claims;
}

/** claimExecutions for one key. */
export async function claimExecution(
  db: Db,
  key: ClaimKey,
  workerId: string,
): Promise<ExecutionClaim> {
  return (await claimExecutions(db, [key], workerId)).get(key.id) ?? { kind: "gone" };
}

/** Claims `keys` into `claims`; returns the keys whose row was not found at their slot. */
async function claimSlotted(
  pool: pg.Pool,
  keys: ExecutionKey[],
  workerId: string,
  claims: Map<string, ExecutionClaim>,
): Promise<ExecutionKey[]> {
  if (keys.length === 0) return [];
  const ids = `'{${keys.map((k) => k.id).join(",")}}'`;
  const slots = `'{${keys.map((k) => `"${k.scheduledAt.toISOString()}"`).join(",")}}'`;
  const [, , , , locked, started] = await queryPrepared(
    pool,
    [CLAIM_LOCKS, CLAIM_STARTS],
    `${CLAIM_PLAN_SETTINGS}; EXECUTE ${CLAIM_LOCKS.name}(${ids}, ${slots}); EXECUTE ${CLAIM_STARTS.name}(${ids}, ${slots}, ${escapeLiteral(workerId)})`,
  );
  for (const row of (started?.rows ?? []) as Record<string, unknown>[]) {
    const id = row.id as string;
    if (row.status === "skipped") {
      claims.set(id, {
        kind: "skipped",
        errorMessage: row.error_message as string,
        jobType: row.job__job_type as string,
        triggerType: row.trigger_type as string,
      });
    } else {
      claims.set(id, { kind: "run", ...runOf(row), redelivered: row.claim__was === "running" });
    }
  }
  const present = new Set((locked?.rows ?? []).map((r: { id: string }) => r.id));
  return keys.filter((k) => !present.has(k.id));
}

/** The slots of executions known by id alone (every partition probed), of those that exist. */
async function findScheduledAts(pool: pg.Pool, ids: string[]): Promise<Map<string, Date>> {
  if (ids.length === 0) return new Map();
  const { rows } = await pool.query<{ id: string; scheduled_at: Date }>({
    name: "scheduler_execution_slots",
    text: "SELECT id, scheduled_at FROM job_executions WHERE id = ANY($1::uuid[])",
    values: [ids],
  });
  return new Map(rows.map((r) => [r.id, r.scheduled_at]));
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
