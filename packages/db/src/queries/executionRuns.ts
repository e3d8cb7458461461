import { and, eq, inArray, lt, notInArray, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { jobExecutions } from "../schema.js";

/**
 * One execution row: its id and its slot, the partition key. A statement given both
 * reads one month's partition (docs/history.md); by id alone it probes every partition.
 */
export interface ExecutionKey {
  id: string;
  scheduledAt: Date;
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
