import {
  EXECUTION_QUEUE,
  type ExecutionMessage,
  executionMessage,
  type Logger,
  queueJobId,
  queuePriority,
  redisKeys,
} from "@scheduler/core";
import type { CancelledExecution, ExecutionRow } from "@scheduler/db";
import { Queue } from "bullmq";
import type { Redis } from "ioredis";

/**
 * The API's side of Redis for executions: enqueueing manual runs and signalling
 * cancels. PostgreSQL is written first; a failure here never loses an execution
 * (the scheduler's reconciler enqueues stale pending ones) — it is logged and the
 * request still succeeds.
 */
export class Dispatcher {
  readonly queue: Queue<ExecutionMessage>;
  private readonly cancelChannel: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly log: Logger,
  ) {
    const keys = redisKeys(prefix);
    this.queue = new Queue<ExecutionMessage>(EXECUTION_QUEUE, {
      connection: redis,
      prefix: keys.bullPrefix,
    });
    this.cancelChannel = keys.cancelChannel;
  }

  /**
   * Queues an execution to run now, ordered among queued ones by its job's API
   * `priority` as the scheduler orders scheduled ones; false when Redis did not take it.
   */
  async enqueue(execution: ExecutionRow, priority: number): Promise<boolean> {
    const bullPriority = queuePriority(priority);
    try {
      await this.queue.add("execute", executionMessage(execution), {
        jobId: queueJobId(execution.executionId),
        attempts: 1,
        removeOnComplete: { count: 1000 },
        removeOnFail: { count: 5000 },
        ...(bullPriority > 0 ? { priority: bullPriority } : {}),
      });
      return true;
    } catch (error) {
      this.log.warn(
        { executionId: execution.executionId, err: (error as Error).message },
        "enqueue failed; the reconciler will enqueue it",
      );
      return false;
    }
  }

  /**
   * After executions were marked cancelled: drop the queue jobs of pending ones and
   * tell the worker holding a running one to abort it.
   */
  async cancel(cancelled: CancelledExecution[]): Promise<void> {
    await Promise.all(
      cancelled.map(async ({ execution, previousStatus }) => {
        try {
          if (previousStatus === "pending") {
            await this.queue.remove(queueJobId(execution.executionId));
          } else {
            await this.redis.publish(this.cancelChannel, execution.id);
          }
        } catch (error) {
          // The worker re-reads the execution before running it, so a queue job that
          // survives here is dropped there; a running one ends at its timeout.
          this.log.warn(
            { executionId: execution.executionId, err: (error as Error).message },
            "cancel signal failed",
          );
        }
      }),
    );
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
