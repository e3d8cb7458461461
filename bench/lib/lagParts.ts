import { EXECUTION_QUEUE, queueJobId, redisKeys } from "@scheduler/core";
import type { Scratch } from "./scratch.js";
import { percentile } from "./stats.js";

/** p50 and p99 (ms) of each part of the start lag of our executions. */
export interface LagParts {
  /** scheduledAt → the queue job added (the scheduler's timer and addBulk). */
  toQueueP50: number;
  toQueueP99: number;
  /** Added → taken by a worker (BullMQ's processedOn). */
  inQueueP50: number;
  inQueueP99: number;
  /** Taken → marked running by the claim (startedAt, PostgreSQL's clock). */
  claimP50: number;
  claimP99: number;
  /** Executions whose queue job was still in Redis to read. */
  measured: number;
}

/**
 * Where the start lag (startedAt − scheduledAt) of the executions with a slot in
 * [from, to) went, from each one's BullMQ job hash: `timestamp` (when the scheduler
 * added it, its clock) and `processedOn` (when a worker took it, the worker's clock);
 * one machine, one clock. Completed queue jobs are kept only up to removeOnComplete's
 * count (1000), so only the latest ones are measured.
 */
export async function lagParts(scratch: Scratch, from: Date, to: Date): Promise<LagParts> {
  const { rows } = await scratch.pool.query<{
    execution_id: string;
    scheduled_ms: string;
    started_ms: string;
  }>(
    `SELECT execution_id, (extract(epoch FROM scheduled_at) * 1000)::bigint AS scheduled_ms,
            (extract(epoch FROM started_at) * 1000)::bigint AS started_ms
       FROM job_executions WHERE scheduled_at >= $1 AND scheduled_at < $2 AND started_at IS NOT NULL`,
    [from, to],
  );
  const base = `${redisKeys(scratch.prefix).bullPrefix}:${EXECUTION_QUEUE}:`;
  const pipeline = scratch.redis.pipeline();
  for (const r of rows)
    pipeline.hmget(base + queueJobId(r.execution_id), "timestamp", "processedOn");
  const answers = (await pipeline.exec()) ?? [];
  const toQueue: number[] = [];
  const inQueue: number[] = [];
  const claim: number[] = [];
  rows.forEach((r, i) => {
    const [added, taken] = (answers[i]?.[1] as (string | null)[] | undefined) ?? [];
    if (!added || !taken) return;
    toQueue.push(Number(added) - Number(r.scheduled_ms));
    inQueue.push(Number(taken) - Number(added));
    claim.push(Number(r.started_ms) - Number(taken));
  });
  return {
    toQueueP50: percentile(toQueue, 0.5),
    toQueueP99: percentile(toQueue, 0.99),
    inQueueP50: percentile(inQueue, 0.5),
    inQueueP99: percentile(inQueue, 0.99),
    claimP50: percentile(claim, 0.5),
    claimP99: percentile(claim, 0.99),
    measured: toQueue.length,
  };
}
