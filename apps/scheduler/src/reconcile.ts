import { type ExecutionMessage, type Logger, queueJobId } from "@scheduler/core";
import {
  type Db,
  findRequeueCandidates,
  type RequeueCandidate,
  type RequeueCursor,
} from "@scheduler/db";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { addInChunks, executionQueueJob } from "./queueJob.js";

/** A pending execution this long past its slot may have lost its queue job. */
export const REQUEUE_AFTER_MS = 5000;
const PAGE = 1000;

export interface ReconcileOptions {
  db: Db;
  queue: Queue<ExecutionMessage>;
  log: Logger;
  /** Most executions one pass enqueues again; the next pass goes on from there. */
  maxPerPass?: number;
}

/**
 * Repairs a crash between a claim's commit and its enqueue (docs/design.md, a run end to end, step 2): pending
 * executions whose slot passed a while ago and whose queue job does not exist are
 * enqueued again. The queue job id is the execution's, so even an execution enqueued
 * between the check and the add is not added twice. A pass reads at
 * most `maxPerPass`, oldest first, and the next pass resumes after it, wrapping around
 * at the end, so a large backlog of pending executions (workers down) is walked in
 * bounded steps rather than re-read from the start each time.
 */
export class Reconciler {
  private cursor: RequeueCursor | undefined;

  constructor(private readonly options: ReconcileOptions) {}

  /** One pass; returns how many executions had lost their queue job and were enqueued again. */
  async run(): Promise<number> {
    const { db, queue, log } = this.options;
    const maxPerPass = this.options.maxPerPass ?? 10_000;
    let count = 0;
    let requeued = 0;
    while (count < maxPerPass) {
      const limit = Math.min(PAGE, maxPerPass - count);
      const page = await findRequeueCandidates(db, {
        olderThanMs: REQUEUE_AFTER_MS,
        limit,
        after: this.cursor,
      });
      if (page.length > 0) {
        const lost = await this.withoutQueueJob(page);
        await addInChunks(
          queue,
          lost.map((e) => executionQueueJob(e, e.priority, 0)),
        );
        const last = page.at(-1)!;
        this.cursor = { scheduledAt: last.scheduledAt, id: last.id };
        requeued += lost.length;
        count += page.length;
      }
      if (page.length < limit) {
        this.cursor = undefined;
        break;
      }
    }
    if (requeued > 0) log.info({ count: requeued }, "pending executions enqueued again");
    return requeued;
  }

  /**
   * The candidates whose queue job does not exist, or has finished while the execution
   * is still pending. A worker acknowledges a queue job only after the execution's
   * terminal write, so a finished one beside a pending row belongs to another row of
   * the same slot: e.g. a claim whose commit PostgreSQL lost in a crash, the slot then
   * claimed again under the same queue job id. Such a job blocks the id (adding it again
   * is a no-op), so it is removed first. A live job (the queue is only backed up) is the
   * common case: one HMGET each, pipelined, costs far less than an addBulk that BullMQ
   * would turn into a no-op.
   */
  private async withoutQueueJob(page: RequeueCandidate[]): Promise<RequeueCandidate[]> {
    const { queue, log } = this.options;
    // The queue runs on the ioredis connection main.ts gives it; BullMQ's own client
    // type leaves these commands out.
    const client = (await queue.client) as unknown as Redis;
    // Sent without waiting for each reply: one round trip's worth, as a pipeline.
    const fields = await Promise.all(
      page.map((e) =>
        client.hmget(queue.toKey(queueJobId(e.executionId)), "timestamp", "finishedOn"),
      ),
    );
    const lost: RequeueCandidate[] = [];
    const finished: RequeueCandidate[] = [];
    for (const [i, e] of page.entries()) {
      const [createdAt, finishedOn] = fields[i]!;
      if (createdAt === null) lost.push(e);
      else if (finishedOn !== null) finished.push(e);
    }
    if (finished.length > 0) {
      await Promise.all(finished.map((e) => queue.remove(queueJobId(e.executionId))));
      log.warn(
        { count: finished.length, executionIds: finished.slice(0, 10).map((e) => e.executionId) },
        "pending executions whose queue job had finished: enqueued again",
      );
    }
    return [...lost, ...finished];
  }
}
