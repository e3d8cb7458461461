import { randomUUID } from "node:crypto";
import {
  createLogger,
  EXECUTION_QUEUE,
  type ExecutionMessage,
  queueJobId,
  redisKeys,
} from "@scheduler/core";
import { type Db, jobExecutions, recordLeadership, scheduledJobs } from "@scheduler/db";
import { test } from "@scheduler/testkit";
import { Queue } from "bullmq";
import { eq, sql } from "drizzle-orm";
import { describe, expect } from "vitest";
import { Ticker, type TickOptions } from "./tick.js";

const log = createLogger({ name: "tick-test", level: "silent" });

const it = test.extend<{ $file: { queue: Queue<ExecutionMessage>; lockKey: string } }>({
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
  lockKey: [
    async ({ testRedis }, use) => use(redisKeys(testRedis.prefix).leaderLock),
    { scope: "file" },
  ],
});

function ticker(
  db: Db,
  queue: Queue<ExecutionMessage>,
  lockKey: string,
  epoch = 1,
  extra: Partial<TickOptions> = {},
) {
  return new Ticker({
    db,
    queue,
    leader: { epoch, isLeader: () => true },
    lockKey,
    log,
    tickMs: 1000,
    lookaheadMs: 2000,
    batchSize: 3,
    misfireThresholdMs: 60_000,
    reconcileIntervalMs: 60_000,
    ...extra,
  });
}

/** An every-second job whose next slot is `slotOffsetMs` from the database clock's now. */
async function insertDueJob(db: Db, slotOffsetMs: number): Promise<string> {
  const [row] = await db
    .insert(scheduledJobs)
    .values({
      name: `job-${randomUUID()}`,
      cronExpression: "* * * * * *",
      jobType: "http",
      config: { url: "http://example.com", method: "GET" },
      tenantId: randomUUID(),
      createdBy: randomUUID(),
      nextExecutionAt: sql`date_trunc('second', now()) + make_interval(secs => ${slotOffsetMs / 1000})`,
    })
    .returning({ id: scheduledJobs.id });
  return row!.id;
}

async function executionsOf(db: Db, jobId: string) {
  return db
    .select()
    .from(jobExecutions)
    .where(eq(jobExecutions.jobId, jobId))
    .orderBy(jobExecutions.scheduledAt);
}

describe("Ticker.tick", () => {
  it("records every due slot once, advances the job and enqueues each execution", async ({
    database,
    queue,
    lockKey,
  }) => {
    const jobIds = await Promise.all([0, 1, 2, 3, 4].map(() => insertDueJob(database.db, -1000)));
    await ticker(database.db, queue, lockKey).tick();
    for (const jobId of jobIds) {
      const executions = await executionsOf(database.db, jobId);
      // Slots from 1 s ago up to now + 2 s lookahead: at least 3 whole seconds.
      expect(executions.length).toBeGreaterThanOrEqual(3);
      const slots = executions.map((e) => e.scheduledAt.getTime());
      expect(new Set(slots).size).toBe(slots.length);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(1000);
      const [job] = await database.db
        .select()
        .from(scheduledJobs)
        .where(eq(scheduledJobs.id, jobId));
      expect(job!.nextExecutionAt!.getTime()).toBe(slots.at(-1)! + 1000);
      expect(job!.executionCount).toBe(executions.length);
      expect(job!.lastExecutionAt!.getTime()).toBe(slots.at(-1));
      for (const e of executions) {
        expect(e).toMatchObject({
          status: "pending",
          triggerType: "scheduled",
          executionId: `${jobId}:${e.scheduledAt.getTime()}`,
        });
        const queued = await queue.getJob(queueJobId(e.executionId));
        expect(queued?.data).toEqual({ executionRowId: e.id, jobId, tenantId: e.tenantId });
      }
    }
  });

  it("records each slot once when two ticks race, as two leaders would", async ({
    database,
    queue,
    lockKey,
  }) => {
    const jobIds = await Promise.all(
      Array.from({ length: 20 }, () => insertDueJob(database.db, -3000)),
    );
    const a = ticker(database.db, queue, lockKey, 1, { batchSize: 4 });
    const b = ticker(database.db, queue, lockKey, 1, { batchSize: 4 });
    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
    for (const jobId of jobIds) {
      const executions = await executionsOf(database.db, jobId);
      const slots = executions.map((e) => e.scheduledAt.getTime());
      expect(new Set(slots).size).toBe(slots.length);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(1000);
    }
  });

  it("changes nothing when a newer leader epoch is recorded", async ({
    database,
    queue,
    lockKey,
  }) => {
    await recordLeadership(database.db, {
      lockKey,
      lockedBy: "newer",
      epoch: 50,
      expiresAt: new Date(Date.now() + 10_000),
    });
    const jobId = await insertDueJob(database.db, -1000);
    await ticker(database.db, queue, lockKey, 49).tick();
    expect(await executionsOf(database.db, jobId)).toHaveLength(0);
    await ticker(database.db, queue, lockKey, 50).tick();
    expect((await executionsOf(database.db, jobId)).length).toBeGreaterThan(0);
  });

  it("enqueues again a pending execution whose queue job was lost", async ({
    database,
    queue,
    lockKey,
  }) => {
    const jobId = await insertDueJob(database.db, 3_600_000);
    const [lost] = await database.db
      .insert(jobExecutions)
      .values({
        jobId,
        tenantId: randomUUID(),
        executionId: `${jobId}:1000`,
        triggerType: "scheduled",
        status: "pending",
        scheduledAt: sql`now() - interval '30 seconds'`,
      })
      .returning();
    expect(await queue.getJob(queueJobId(lost!.executionId))).toBeUndefined();
    await ticker(database.db, queue, lockKey, 50, { reconcileIntervalMs: 0 }).tick();
    const requeued = await queue.getJob(queueJobId(lost!.executionId));
    expect(requeued?.data.executionRowId).toBe(lost!.id);
  });
});
