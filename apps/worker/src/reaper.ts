import { type ExecutionMessage, type Logger, queueJobId, toError } from "@scheduler/core";
import { type Db, failOrphanedExecution, findOrphanedExecutions } from "@scheduler/db";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { liveWorkerIds } from "./heartbeat.js";

/** Queue states in which an execution will still be delivered to a worker. */
const DELIVERABLE = new Set(["active", "waiting", "delayed", "prioritized", "waiting-children"]);
const BATCH = 100;

export interface ReaperOptions {
  db: Db;
  redis: Redis;
  queue: Queue<ExecutionMessage>;
  indexKey: string;
  heartbeatKey: (workerId: string) => string;
  /** How often to look, in ms (WORKER_STALLED_INTERVAL_MS). */
  intervalMs: number;
  /** Only executions started longer ago than this are looked at, in ms. */
  minAgeMs: number;
  log: Logger;
}

/**
 * The backstop of crash recovery. A worker killed mid-run normally loses its queue lock
 * and BullMQ's stalled check delivers the execution again. When that cannot happen (the
 * queue gave up after maxStalledCount, or the queue job is gone), the execution would
 * stay `running` forever: the reaper ends it `failed` (SYSTEM_ERROR) once its worker's
 * heartbeat has expired and the queue holds no delivery of it.
 */
export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ReaperOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweeping = this.sweep().catch((error) =>
        this.options.log.warn({ err: toError(error).message }, "reaper sweep failed"),
      );
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping;
  }

  /** One pass; returns how many executions it ended. */
  async sweep(): Promise<number> {
    const { db, redis, queue, log } = this.options;
    const live = await liveWorkerIds(redis, this.options.indexKey, this.options.heartbeatKey);
    const orphans = await findOrphanedExecutions(db, live, this.options.minAgeMs, BATCH);
    let ended = 0;
    for (const orphan of orphans) {
      const state = await queue.getJobState(queueJobId(orphan.executionId));
      if (DELIVERABLE.has(state)) continue;
      const message = `worker ${orphan.workerId} stopped while running it and the queue will not deliver it again`;
      if (await failOrphanedExecution(db, orphan.id, orphan.workerId, message)) {
        ended += 1;
        log.warn(
          { executionId: orphan.executionId, workerId: orphan.workerId, state },
          "orphaned execution ended",
        );
      }
    }
    return ended;
  }
}
