import { randomUUID } from "node:crypto";
import {
  createLogger,
  EXECUTION_QUEUE,
  type ExecutionMessage,
  executionMessage,
  queueJobId,
  redisKeys,
} from "@scheduler/core";
import { type Db, jobExecutions, scheduledJobs } from "@scheduler/db";
import { test } from "@scheduler/testkit";
import { Queue } from "bullmq";
import { eq, sql } from "drizzle-orm";
import { describe, expect } from "vitest";
import { Reaper } from "./reaper.js";

const log = createLogger({ name: "reaper-test", level: "silent" });

const it = test.extend<{ $file: { queue: Queue<ExecutionMessage> } }>({
  queue: [
    async ({ testRedis }, use) => {
      const queue = new Queue<ExecutionMessage>(EXECUTION_QUEUE, {
        connection: testRedis.redis,
        prefix: redisKeys(testRedis.prefix).bullPrefix,
      });
      await use(queue);
      await queue.close();
    },
    { scope: "file" },
  ],
});

/** A running execution of `workerId`, started a minute ago. */
async function insertRunning(db: Db, workerId: string) {
  const tenantId = randomUUID();
  const [job] = await db
    .insert(scheduledJobs)
    .values({
      name: `job-${randomUUID()}`,
      cronExpression: "0 0 0 1 1 *",
      jobType: "http",
      config: { url: "http://example.com", method: "GET" },
      tenantId,
      createdBy: randomUUID(),
    })
    .returning({ id: scheduledJobs.id });
  const [row] = await db
    .insert(jobExecutions)
    .values({
      jobId: job!.id,
      tenantId,
      executionId: `${job!.id}:m${randomUUID().slice(0, 13)}`,
      triggerType: "manual",
      status: "running",
      workerId,
      scheduledAt: new Date(),
      startedAt: sql`now() - interval '1 minute'`,
    })
    .returning();
  return row!;
}

async function statusOf(db: Db, id: string) {
  const [row] = await db.select().from(jobExecutions).where(eq(jobExecutions.id, id));
  return row!;
}

describe("Reaper", () => {
  it("ends a dead worker's execution that the queue will not deliver again, and leaves the others", async ({
    database,
    testRedis,
    queue,
  }) => {
    const keys = redisKeys(testRedis.prefix);
    const orphan = await insertRunning(database.db, "dead-worker");
    const redeliverable = await insertRunning(database.db, "dead-worker");
    await queue.add("execute", executionMessage(redeliverable), {
      jobId: queueJobId(redeliverable.executionId),
      delay: 60_000,
    });
    const alive = await insertRunning(database.db, "live-worker");
    await testRedis.redis.set(keys.workerHeartbeat("live-worker"), "{}", "PX", 60_000);
    await testRedis.redis.zadd(keys.workersIndex, Date.now(), "live-worker");

    const reaper = new Reaper({
      db: database.db,
      redis: testRedis.redis,
      queue,
      indexKey: keys.workersIndex,
      heartbeatKey: keys.workerHeartbeat,
      intervalMs: 60_000,
      minAgeMs: 10_000,
      log,
    });
    expect(await reaper.sweep()).toBe(1);

    expect(await statusOf(database.db, orphan.id)).toMatchObject({
      status: "failed",
      errorType: "SYSTEM_ERROR",
      errorMessage:
        "worker dead-worker stopped while running it and the queue will not deliver it again",
    });
    expect((await statusOf(database.db, orphan.id)).durationMs).toBeGreaterThanOrEqual(60_000);
    expect((await statusOf(database.db, redeliverable.id)).status).toBe("running");
    expect((await statusOf(database.db, alive.id)).status).toBe("running");
  });
});
