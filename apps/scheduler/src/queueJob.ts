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

/** The queue job of one execution, due `delayMs` from now, with its job's API priority. */
export function executionQueueJob(
  e: Pick<ExecutionRow, "id" | "jobId" | "tenantId" | "executionId" | "scheduledAt">,
  priority: number,
  delayMs: number,
): QueueJob {
  const bullPriority = queuePriority(priority);
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
