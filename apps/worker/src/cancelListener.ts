import { type Logger, toError } from "@scheduler/core";
import { type Db, findCancelledExecutionIds } from "@scheduler/db";
import type { Redis } from "ioredis";
import type { RunningExecutions } from "./runningExecutions.js";

export interface CancelListenerOptions {
  /** A connection of its own: it enters subscriber mode. */
  subscriber: Redis;
  /** `redisKeys(prefix).cancelChannel` */
  channel: string;
  running: RunningExecutions;
  db: Db;
  log: Logger;
}

/**
 * Aborts executions this worker holds when the API publishes their row id on the cancel
 * channel (after marking them `cancelled` in PostgreSQL). Pub/sub drops messages while
 * the connection is down, so after every reconnect the held executions are checked in
 * PostgreSQL and the cancelled ones aborted.
 */
export class CancelListener {
  private subscribedOnce = false;

  constructor(private readonly options: CancelListenerOptions) {}

  async start(): Promise<void> {
    const { subscriber, channel, running, log } = this.options;
    subscriber.on("message", (from: string, id: string) => {
      if (from !== channel) return;
      if (running.stop(id, "cancelled"))
        log.info({ executionRowId: id }, "cancel received; aborting");
    });
    subscriber.on("ready", () => {
      if (this.subscribedOnce) void this.catchUp();
    });
    await subscriber.subscribe(channel);
    this.subscribedOnce = true;
  }

  async stop(): Promise<void> {
    this.options.subscriber.disconnect();
  }

  /** Aborts held executions that were cancelled while no message could arrive. */
  async catchUp(): Promise<void> {
    const { running, db, log } = this.options;
    try {
      for (const id of await findCancelledExecutionIds(db, running.ids())) {
        if (running.stop(id, "cancelled"))
          log.info({ executionRowId: id }, "missed cancel found; aborting");
      }
    } catch (error) {
      log.warn({ err: toError(error).message }, "cancel catch-up failed");
    }
  }
}
