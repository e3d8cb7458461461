import { randomUUID } from "node:crypto";
import {
  createLogger,
  EXECUTION_QUEUE,
  type ExecutionMessage,
  queueJobId,
  queuePriority,
  redisKeys,
} from "@scheduler/core";
import {
  type Db,
  jobExecutions,
  type NewJobRow,
  recordLeadership,
  scheduledJobs,
  schedulerLocks,
} from "@scheduler/db";
import { test, waitFor } from "@scheduler/testkit";
import { Queue, Worker } from "bullmq";
import { eq, sql } from "drizzle-orm";
import { describe, expect } from "vitest";
import { Reconciler } from "./reconcile.js";
import { Ticker, type TickOptions } from "./tick.js";

const log = createLogger({ name: "tick-test", level: "silent" });

const it = test.extend<{
  $file: { queue: Queue<ExecutionMessage>; lockKey: string };
  $test: {
    /** The file's database, with no jobs and no leader record at the start of each test. */
    db: Db;
    /** Records `epoch` as the leader's in scheduler_locks, as a new leader would. */
    lead: (epoch: number) => Promise<void>;
    /**
     * A ticker whose leader believes it holds `epoch` (Default: 1); record it first with
     * `lead`. Other options override the file's defaults.
     */
    ticker: (options?: { epoch?: number } & Partial<TickOptions>) => Ticker;
  };
}>({
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
  db: async ({ database }, use) => {
    // The file shares one database: each test starts over.
    await database.db.delete(scheduledJobs);
    await database.db.delete(schedulerLocks);
    await use(database.db);
  },
  lead: async ({ db, lockKey }, use) => {
    await use(async (epoch) => {
      await recordLeadership(db, {
        lockKey,
        lockedBy: `instance-${epoch}`,
        epoch,
        expiresAt: new Date(Date.now() + 10_000),
      });
    });
  },
  ticker: async ({ db, queue, lockKey }, use) => {
    const tickers: Ticker[] = [];
    await use(({ epoch = 1, ...extra } = {}) => {
      const created = new Ticker({
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
      tickers.push(created);
      return created;
    });
    // Executions a failed test left held must not reach a later test's queue.
    await Promise.all(tickers.map((t) => t.stop()));
  },
});

/**
 * A job whose next slot is `slotOffsetMs` from the database clock's current second.
 * Every second by default, and with room for concurrent runs unless a test limits it.
 */
async function insertDueJob(
  db: Db,
  slotOffsetMs: number,
  overrides: Partial<NewJobRow> = {},
): Promise<string> {
  const [row] = await db
    .insert(scheduledJobs)
    .values({
      name: `job-${randomUUID()}`,
      cronExpression: "* * * * * *",
      jobType: "http",
      config: { url: "http://example.com", method: "GET" },
      tenantId: randomUUID(),
      createdBy: randomUUID(),
      maxConcurrent: 100,
      nextExecutionAt: sql`date_trunc('second', now()) + make_interval(secs => ${slotOffsetMs / 1000})`,
      ...overrides,
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

async function jobRow(db: Db, jobId: string) {
  const [job] = await db.select().from(scheduledJobs).where(eq(scheduledJobs.id, jobId));
  return job!;
}

describe("Ticker.tick", () => {
  it("records every due slot once, advances the job and enqueues each execution", async ({
    db,
    lead,
    ticker,
    queue,
  }) => {
    await lead(1);
    const jobIds = await Promise.all([0, 1, 2, 3, 4].map(() => insertDueJob(db, -1000)));
    await ticker().tick();
    for (const jobId of jobIds) {
      const executions = await executionsOf(db, jobId);
      // Slots from 1 s ago up to now + 2 s lookahead: at least 3 whole seconds.
      expect(executions.length).toBeGreaterThanOrEqual(3);
      const slots = executions.map((e) => e.scheduledAt.getTime());
      expect(new Set(slots).size).toBe(slots.length);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(1000);
      const job = await jobRow(db, jobId);
      expect(job.nextExecutionAt!.getTime()).toBe(slots.at(-1)! + 1000);
      expect(job.executionCount).toBe(executions.length);
      expect(job.lastExecutionAt!.getTime()).toBe(slots.at(-1));
      for (const e of executions) {
        expect(e).toMatchObject({
          status: "pending",
          triggerType: "scheduled",
          executionId: `${jobId}:${e.scheduledAt.getTime()}`,
        });
        const queued = await queue.getJob(queueJobId(e.executionId));
        expect(queued?.data).toEqual({
          executionRowId: e.id,
          jobId,
          tenantId: e.tenantId,
          scheduledAt: e.scheduledAt.toISOString(),
        });
      }
    }
  });

  it("records each slot once when two ticks race, as two leaders would", async ({
    db,
    lead,
    ticker,
  }) => {
    await lead(1);
    const jobIds = await Promise.all(Array.from({ length: 20 }, () => insertDueJob(db, -3000)));
    const a = ticker({ batchSize: 4 });
    const b = ticker({ batchSize: 4 });
    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
    for (const jobId of jobIds) {
      const executions = await executionsOf(db, jobId);
      const slots = executions.map((e) => e.scheduledAt.getTime());
      expect(new Set(slots).size).toBe(slots.length);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(1000);
    }
  });

  it("changes nothing when its epoch is older than the recorded leader's", async ({
    db,
    lead,
    ticker,
  }) => {
    await lead(50);
    const jobId = await insertDueJob(db, -1000);
    expect(await ticker({ epoch: 49 }).tick()).toBeUndefined();
    expect(await executionsOf(db, jobId)).toHaveLength(0);
    await ticker({ epoch: 50 }).tick();
    expect((await executionsOf(db, jobId)).length).toBeGreaterThan(0);
  });

  it("changes nothing when its epoch was never recorded", async ({ db, ticker }) => {
    const jobId = await insertDueJob(db, -1000);
    expect(await ticker({ epoch: 7 }).tick()).toBeUndefined();
    expect(await executionsOf(db, jobId)).toHaveLength(0);
    expect((await jobRow(db, jobId)).executionCount).toBe(0);
  });

  it("records the slots due while maxConcurrent executions run as skipped, with the reason", async ({
    db,
    lead,
    ticker,
    queue,
  }) => {
    await lead(1);
    const jobId = await insertDueJob(db, -1000, { maxConcurrent: 1 });
    await db.insert(jobExecutions).values({
      jobId,
      tenantId: randomUUID(),
      executionId: `${jobId}:manual`,
      triggerType: "manual",
      status: "running",
      scheduledAt: sql`now() - interval '5 seconds'`,
    });
    const result = await ticker().tick();

    const scheduled = (await executionsOf(db, jobId)).filter((e) => e.triggerType === "scheduled");
    // created_at is the claim transaction's now(): slots up to it were due at once.
    const claimedAt = scheduled[0]!.createdAt.getTime();
    const skipped = scheduled.filter((e) => e.status === "skipped");
    const pending = scheduled.filter((e) => e.status === "pending");
    expect(skipped.length).toBeGreaterThanOrEqual(2);
    expect(skipped.map((e) => e.scheduledAt.getTime() <= claimedAt)).not.toContain(false);
    expect(pending.length).toBeGreaterThanOrEqual(1);
    expect(pending.map((e) => e.scheduledAt.getTime() > claimedAt)).not.toContain(false);
    for (const e of skipped) {
      expect(e.errorMessage).toBe(
        `skipped: maxConcurrent 1 reached (1 execution(s) of this job in flight, ${skipped.length} slot(s) due at once)`,
      );
      expect(await queue.getJob(queueJobId(e.executionId))).toBeUndefined();
    }
    for (const e of pending) expect(await queue.getJob(queueJobId(e.executionId))).toBeDefined();
    expect(result).toMatchObject({ fired: pending.length, skipped: skipped.length });
    const job = await jobRow(db, jobId);
    expect(job.executionCount).toBe(pending.length);
    expect(job.nextExecutionAt!.getTime()).toBe(scheduled.at(-1)!.scheduledAt.getTime() + 1000);
  });

  it("hands executions to the queue so that a higher API priority runs first", async ({
    db,
    lead,
    ticker,
    testRedis,
  }) => {
    await lead(1);
    // Yearly jobs whose one slot passed: enqueued without delay, all before a worker looks.
    const yearly = { cronExpression: "0 0 0 1 1 *" };
    const byPriority = new Map<string, number>();
    for (const priority of [0, 100, 37, 0, 99, 1]) {
      byPriority.set(await insertDueJob(db, -1000, { ...yearly, priority }), priority);
    }
    // A queue of its own: earlier tests' queue jobs would come due meanwhile.
    const bullPrefix = redisKeys(`${testRedis.prefix}:priority`).bullPrefix;
    const queue = new Queue<ExecutionMessage>(EXECUTION_QUEUE, {
      connection: testRedis.redis,
      prefix: bullPrefix,
    });
    await ticker({ batchSize: 10, queue }).tick();
    await queue.close();

    const order: number[] = [];
    const connection = testRedis.redis.duplicate({ maxRetriesPerRequest: null });
    const worker = new Worker<ExecutionMessage>(
      EXECUTION_QUEUE,
      async (job) => {
        order.push(byPriority.get(job.data.jobId)!);
      },
      {
        connection,
        prefix: bullPrefix,
        concurrency: 1,
      },
    );
    try {
      await new Promise<void>((resolve) => {
        worker.on("completed", () => order.length === byPriority.size && resolve());
      });
    } finally {
      await worker.close();
      connection.disconnect();
    }
    expect(order).toEqual([100, 99, 37, 1, 0, 0]);
  });

  it("queues another tenant's execution of the same second ahead of a tenant's burst", async ({
    db,
    lead,
    ticker,
    testRedis,
  }) => {
    await lead(1);
    const yearly = { cronExpression: "0 0 0 1 1 *" };
    const flooder = randomUUID();
    const burst = new Set<string>();
    for (let i = 0; i < 20; i++) {
      burst.add(await insertDueJob(db, -1000, { ...yearly, tenantId: flooder }));
    }
    // Inserted (and so claimed) last: first in line all the same but for the burst's first.
    const other = await insertDueJob(db, -1000, yearly);
    const bullPrefix = redisKeys(`${testRedis.prefix}:burst`).bullPrefix;
    const queue = new Queue<ExecutionMessage>(EXECUTION_QUEUE, {
      connection: testRedis.redis,
      prefix: bullPrefix,
    });
    await ticker({ batchSize: 5, claimConcurrency: 1, queue }).tick();
    await queue.close();

    const order: string[] = [];
    const connection = testRedis.redis.duplicate({ maxRetriesPerRequest: null });
    const worker = new Worker<ExecutionMessage>(
      EXECUTION_QUEUE,
      async (job) => {
        order.push(job.data.jobId);
      },
      { connection, prefix: bullPrefix, concurrency: 1 },
    );
    try {
      await new Promise<void>((resolve) => {
        worker.on("completed", () => order.length === burst.size + 1 && resolve());
      });
    } finally {
      await worker.close();
      connection.disconnect();
    }
    expect(order.indexOf(other)).toBeLessThanOrEqual(1);
    expect(order.filter((id) => burst.has(id))).toHaveLength(20);
  });

  it("with enqueueAtSlot, queues a slot still ahead only once it has come, without delay", async ({
    db,
    lead,
    ticker,
    queue,
  }) => {
    await lead(1);
    const yearly = { cronExpression: "0 0 0 1 1 *" };
    const due = await insertDueJob(db, -1000, yearly);
    const ahead = await insertDueJob(db, 2000, yearly);
    const t = ticker({ enqueueAtSlot: true, batchSize: 10 });
    await t.tick();
    const [dueExecution] = await executionsOf(db, due);
    const [aheadExecution] = await executionsOf(db, ahead);
    expect(await queue.getJob(queueJobId(dueExecution!.executionId))).toBeDefined();
    expect(await queue.getJob(queueJobId(aheadExecution!.executionId))).toBeUndefined();
    expect(t.heldCount).toBe(1);

    const queued = await waitFor(() => queue.getJob(queueJobId(aheadExecution!.executionId)), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: "the held execution to be queued",
    });
    expect(Date.now()).toBeGreaterThanOrEqual(aheadExecution!.scheduledAt.getTime());
    expect(queued.opts.delay ?? 0).toBe(0);
    expect(t.heldCount).toBe(0);
    await t.stop();
  });

  it("with enqueueAtSlot, queues what it holds when stopped, delayed to the slot", async ({
    db,
    lead,
    ticker,
    queue,
  }) => {
    await lead(1);
    const ahead = await insertDueJob(db, 2000, { cronExpression: "0 0 0 1 1 *" });
    const t = ticker({ enqueueAtSlot: true });
    await t.tick();
    expect(t.heldCount).toBe(1);
    await t.stop();
    expect(t.heldCount).toBe(0);
    const [execution] = await executionsOf(db, ahead);
    const queued = await queue.getJob(queueJobId(execution!.executionId));
    expect(queued?.opts.delay).toBeGreaterThan(0);
  });

  it("makes a job whose schedule no longer parses inactive and fires the rest of its batch", async ({
    db,
    lead,
    ticker,
  }) => {
    await lead(1);
    const broken = await insertDueJob(db, -2000, { timezone: "Mars/Phobos" });
    const healthy = await insertDueJob(db, -1000);
    await ticker().tick();
    expect(await jobRow(db, broken)).toMatchObject({
      status: "inactive",
      nextExecutionAt: null,
      executionCount: 0,
    });
    expect(await executionsOf(db, broken)).toHaveLength(0);
    expect((await executionsOf(db, healthy)).length).toBeGreaterThanOrEqual(3);
  });

  it("records the tick's numbers in the leader's scheduler_locks metadata", async ({
    db,
    lead,
    ticker,
  }) => {
    await lead(3);
    // One job 5 s behind: the tick starts 5 s late for it.
    await insertDueJob(db, -5000, { cronExpression: "0 0 0 1 1 *" });
    const result = await ticker({ epoch: 3 }).tick();
    const [row] = await db.select().from(schedulerLocks);
    const metadata = row!.metadata as Record<string, unknown>;
    expect(metadata).toMatchObject({ firedLastTick: 1, skippedLastTick: 0 });
    expect(metadata.tickLagMs).toBeGreaterThanOrEqual(5000);
    expect(metadata.tickLagMs).toBeLessThan(7000);
    expect(metadata.tickDurationMs).toBe(Math.round(result!.durationMs));
    expect(Date.parse(metadata.lastTickAt as string)).toBe(result!.startedAt.getTime());

    await ticker({ epoch: 3 }).tick();
    const [again] = await db.select().from(schedulerLocks);
    expect(again!.metadata).toMatchObject({ firedLastTick: 0, tickLagMs: 0 });
  });

  it("enqueues again, with its priority, a pending execution whose queue job was lost", async ({
    db,
    lead,
    ticker,
    queue,
  }) => {
    await lead(50);
    const jobId = await insertDueJob(db, 3_600_000, { priority: 60 });
    const [lost] = await db
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
    const result = await ticker({ epoch: 50, reconcileIntervalMs: 0 }).tick();
    const requeued = await queue.getJob(queueJobId(lost!.executionId));
    expect(requeued?.data.executionRowId).toBe(lost!.id);
    expect(requeued?.opts.priority).toBe(queuePriority(60));
    expect(result?.requeued).toBe(1);
  });
});

describe("Ticker takeover", () => {
  /** A pending execution `offsetMs` from now, as a leader that died after its claim left it. */
  async function insertClaimed(db: Db, jobId: string, offsetMs: number) {
    const [row] = await db
      .insert(jobExecutions)
      .values({
        jobId,
        tenantId: randomUUID(),
        executionId: `${jobId}:${offsetMs}`,
        triggerType: "scheduled",
        status: "pending",
        scheduledAt: sql`date_trunc('second', now()) + make_interval(secs => ${offsetMs / 1000})`,
      })
      .returning();
    return row!;
  }

  it("enqueues, on a new epoch's first tick, what the previous leader claimed and did not enqueue, each at its slot", async ({
    db,
    lead,
    ticker,
    queue,
  }) => {
    await lead(7);
    const jobId = await insertDueJob(db, 3_600_000, { priority: 60 });
    const past = await insertClaimed(db, jobId, -2000);
    const ahead = await insertClaimed(db, jobId, 2000);
    const t = ticker({ epoch: 7, enqueueAtSlot: true });
    const result = await t.tick();
    expect(result?.requeued).toBe(0);
    const queued = await queue.getJob(queueJobId(past.executionId));
    expect(queued?.data.executionRowId).toBe(past.id);
    expect(queued?.opts.delay ?? 0).toBe(0);
    expect(queued?.opts.priority).toBe(queuePriority(60));
    expect(await queue.getJob(queueJobId(ahead.executionId))).toBeUndefined();
    expect(t.heldCount).toBe(1);
    await waitFor(() => queue.getJob(queueJobId(ahead.executionId)), {
      timeoutMs: 5000,
      intervalMs: 20,
      what: "the taken-over execution queued at its slot",
    });
    expect(Date.now()).toBeGreaterThanOrEqual(ahead.scheduledAt.getTime());
  });
});

describe("Reconciler", () => {
  it("walks a backlog larger than one pass across passes, enqueueing what has no queue job", async ({
    db,
    queue,
  }) => {
    const jobId = await insertDueJob(db, 3_600_000);
    await db.execute(sql`
      INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, status, scheduled_at)
      SELECT ${jobId}::uuid, gen_random_uuid(), ${jobId} || ':' || i, 'scheduled', 'pending',
             date_trunc('second', now()) - make_interval(secs => 60 + i)
      FROM generate_series(1, 25) AS i`);
    const reconciler = new Reconciler({ db, queue, log, maxPerPass: 10 });
    expect(await reconciler.run()).toBe(10);
    expect(await reconciler.run()).toBe(10);
    expect(await reconciler.run()).toBe(5);
    for (let i = 1; i <= 25; i++) expect(await queue.getJob(`${jobId}-${i}`)).toBeDefined();
    // At the end it starts over from the oldest, and enqueues only what lost its queue job.
    await queue.remove(`${jobId}-7`);
    expect(await reconciler.run()).toBe(0);
    expect(await reconciler.run()).toBe(1);
    expect(await queue.getJob(`${jobId}-7`)).toBeDefined();
    expect(await reconciler.run()).toBe(0);
  });

  it("enqueues again a pending execution whose queue job finished for another row of its slot", async ({
    db,
    queue,
  }) => {
    const jobId = await insertDueJob(db, 3_600_000);
    const [pending] = await db
      .insert(jobExecutions)
      .values({
        jobId,
        tenantId: randomUUID(),
        executionId: `${jobId}:2000`,
        triggerType: "scheduled",
        status: "pending",
        scheduledAt: sql`now() - interval '30 seconds'`,
      })
      .returning();
    // The slot's first claim was lost with its commit; its queue job, carrying a row id
    // that no longer exists, ran (the worker found no row) and finished.
    const ghost = randomUUID();
    await queue.add(
      "execute",
      { executionRowId: ghost, jobId, tenantId: pending!.tenantId },
      { jobId: queueJobId(pending!.executionId) },
    );
    const worker = new Worker<ExecutionMessage>(EXECUTION_QUEUE, async () => undefined, {
      connection: (await queue.client).duplicate(),
      prefix: queue.opts.prefix,
    });
    try {
      await waitForState(queue, queueJobId(pending!.executionId), "completed");
    } finally {
      await worker.close();
    }
    const reconciler = new Reconciler({ db, queue, log });
    expect(await reconciler.run()).toBe(1);
    const requeued = await queue.getJob(queueJobId(pending!.executionId));
    expect(requeued?.data.executionRowId).toBe(pending!.id);
    expect(await requeued?.getState()).toBe("prioritized"); // API priority 0
    expect(await reconciler.run()).toBe(0);
  });
});

async function waitForState(queue: Queue<ExecutionMessage>, id: string, state: string) {
  const deadline = Date.now() + 10_000;
  while ((await (await queue.getJob(id))?.getState()) !== state) {
    if (Date.now() > deadline) throw new Error(`queue job ${id} never became ${state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
