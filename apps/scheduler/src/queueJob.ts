import {
  type ExecutionMessage,
  executionMessage,
  queueJobId,
  queuePriority,
} from "@scheduler/core";
import type { ExecutionRow } from "@scheduler/db";
import type { BulkJobOptions, Queue } from "bullmq";

/** Queue jobs per addBulk call: one Redis round trip each, bounded in size. */
export const ADD_BULK_CHUNK = 1000;

/** Queue options of every execution: retries happen inside the execution, not in BullMQ. */
const QUEUE_JOB_OPTIONS: BulkJobOptions = {
  attempts: 1,
  removeOnComplete: { count: 1000 },
  removeOnFail: { count: 5000 },
};

export interface QueueJob {
  name: "execute";
  data: ExecutionMessage;
  opts: BulkJobOptions;
}

/**
 * The queue job of one execution, due `delayMs` from now, with its job's API priority
 * and its rank among its tenant's executions due in the same second (queuePriority).
 */
export function executionQueueJob(
  e: Pick<ExecutionRow, "id" | "jobId" | "tenantId" | "executionId" | "scheduledAt">,
  priority: number,
  delayMs: number,
  rank = 0,
): QueueJob {
  const bullPriority = queuePriority(priority, rank);
  return {
    name: "execute",
    data: executionMessage(e),
    opts: {
      ...QUEUE_JOB_OPTIONS,
      jobId: queueJobId(e.executionId),
      delay: Math.max(0, Math.round(delayMs)),
      ...(bullPriority > 0 ? { priority: bullPriority } : {}),
    },
  };
}

/** addBulk in chunks of ADD_BULK_CHUNK, in order. */
export async function addInChunks(queue: Queue<ExecutionMessage>, jobs: QueueJob[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += ADD_BULK_CHUNK) {
    await queue.addBulk(jobs.slice(i, i + ADD_BULK_CHUNK));
  }
}

/** How long a second's burst ranks are kept after it: a tick enqueues a second at most this late. */
const RANKS_KEPT_MS = 120_000;

/**
 * Each tenant's count of executions enqueued so far for each slot: the `rank` that
 * spreads one tenant's burst over queue priorities (queuePriority). Slots more than
 * RANKS_KEPT_MS old are forgotten.
 */
export class BurstRanks {
  private readonly bySlot = new Map<number, Map<string, number>>();

  /** The next rank of `tenantId` at `slotMs` (0 for its first execution there). */
  next(tenantId: string, slotMs: number): number {
    let tenants = this.bySlot.get(slotMs);
    if (!tenants) {
      this.forgetBefore(slotMs - RANKS_KEPT_MS);
      tenants = new Map();
      this.bySlot.set(slotMs, tenants);
    }
    const rank = tenants.get(tenantId) ?? 0;
    tenants.set(tenantId, rank + 1);
    return rank;
  }

  /** Slots counted (for tests). */
  get size(): number {
    return this.bySlot.size;
  }

  private forgetBefore(slotMs: number): void {
    for (const slot of this.bySlot.keys()) if (slot < slotMs) this.bySlot.delete(slot);
  }
}
