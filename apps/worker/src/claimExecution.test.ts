import { randomUUID } from "node:crypto";
import {
  CLAIM_PLAN_SETTINGS,
  claimExecution,
  createDb,
  createPool,
  type Db,
  type ExecutionRow,
  finishExecution,
  finishExecutions,
  jobExecutions,
  scheduledJobs,
} from "@scheduler/db";
import { test } from "@scheduler/testkit";
import { eq } from "drizzle-orm";
import { describe, expect } from "vitest";

async function insertJob(
  db: Db,
  maxConcurrent: number,
): Promise<{ jobId: string; tenantId: string }> {
  const tenantId = randomUUID();
  const [job] = await db
    .insert(scheduledJobs)
    .values({
      name: `job-${randomUUID()}`,
      cronExpression: "0 0 0 1 1 *",
      jobType: "http",
      config: { url: "http://example.com", method: "GET" },
      maxConcurrent,
      tenantId,
      createdBy: randomUUID(),
    })
    .returning({ id: scheduledJobs.id });
  return { jobId: job!.id, tenantId };
}

async function insertPending(db: Db, job: { jobId: string; tenantId: string }, count: number) {
  const rows = Array.from({ length: count }, () => ({
    jobId: job.jobId,
    tenantId: job.tenantId,
    executionId: `${job.jobId}:m${randomUUID().slice(0, 13)}`,
    triggerType: "manual",
    status: "pending",
    scheduledAt: new Date(),
  }));
  return db.insert(jobExecutions).values(rows).returning();
}

function statusesOf(db: Db, jobId: string): Promise<Pick<ExecutionRow, "status">[]> {
  return db
    .select({ status: jobExecutions.status })
    .from(jobExecutions)
    .where(eq(jobExecutions.jobId, jobId));
}

describe("claimExecution", () => {
  test.for([
    { maxConcurrent: 1, racing: 2 },
    { maxConcurrent: 3, racing: 8 },
  ])(
    "lets exactly $maxConcurrent of $racing racing workers run a job's executions",
    async ({ maxConcurrent, racing }, { database }) => {
      for (let round = 0; round < 5; round++) {
        const job = await insertJob(database.db, maxConcurrent);
        const rows = await insertPending(database.db, job, racing);
        const claims = await Promise.all(
          rows.map((row, i) => claimExecution(database.db, row, `worker-${i}`)),
        );
        expect(claims.filter((c) => c.kind === "run")).toHaveLength(maxConcurrent);
        const skipped = claims.filter((c) => c.kind === "skipped");
        expect(skipped).toHaveLength(racing - maxConcurrent);
        expect(skipped[0]).toMatchObject({
          errorMessage: `skipped: the job already has ${maxConcurrent} running execution(s), its maxConcurrent is ${maxConcurrent}`,
        });
        const statuses = (await statusesOf(database.db, job.jobId)).map((r) => r.status).sort();
        expect(statuses.filter((s) => s === "running")).toHaveLength(maxConcurrent);
      }
    },
  );

  test("takes over a running execution as a redelivery, counting it in retryCount", async ({
    database,
  }) => {
    const job = await insertJob(database.db, 1);
    const [row] = await insertPending(database.db, job, 1);
    const first = await claimExecution(database.db, row!, "worker-a");
    const again = await claimExecution(database.db, row!, "worker-b");
    expect(first).toMatchObject({ kind: "run", redelivered: false, execution: { retryCount: 0 } });
    expect(again).toMatchObject({
      kind: "run",
      redelivered: true,
      execution: { retryCount: 1, workerId: "worker-b", status: "running" },
      job: { jobType: "http", maxConcurrent: 1, timeoutSeconds: 300 },
    });
    if (first.kind === "run" && again.kind === "run") {
      expect(again.execution.startedAt).toEqual(first.execution.startedAt);
    }
  });

  test("a run superseded by a redelivery writes nothing: its outcome is refused", async ({
    database,
  }) => {
    const job = await insertJob(database.db, 2);
    const [row, other] = await insertPending(database.db, job, 2);
    // worker-a claims both and stalls past its queue lock; worker-b is delivered both again.
    for (const r of [row!, other!]) {
      expect(await claimExecution(database.db, r, "worker-a")).toMatchObject({ kind: "run" });
      expect(await claimExecution(database.db, r, "worker-b")).toMatchObject({
        redelivered: true,
        execution: { retryCount: 1 },
      });
    }
    // worker-a wakes: its terminal writes (alone and batched) are refused.
    expect(await finishExecution(database.db, row!, { status: "completed", retryCount: 0 })).toBe(
      false,
    );
    const stale = { status: "failed" as const, errorType: "TIMEOUT", retryCount: 0 };
    expect(await finishExecutions(database.db, [{ key: other!, outcome: stale }])).toEqual(
      new Set(),
    );
    const mid = await database.db
      .select()
      .from(jobExecutions)
      .where(eq(jobExecutions.jobId, job.jobId));
    expect(mid.map((r) => [r.status, r.retryCount, r.workerId])).toEqual([
      ["running", 1, "worker-b"],
      ["running", 1, "worker-b"],
    ]);
    // worker-b, whose run it is, ends both, one after a retry: the retry's delivery
    // claims it again, which counts the retry.
    expect(await claimExecution(database.db, row!, "worker-b")).toMatchObject({
      redelivered: true,
      execution: { retryCount: 2 },
    });
    expect(await finishExecution(database.db, row!, { status: "completed", retryCount: 2 })).toBe(
      true,
    );
    const done = { status: "completed" as const, retryCount: 1 };
    expect(await finishExecutions(database.db, [{ key: other!, outcome: done }])).toEqual(
      new Set([other!.id]),
    );
    const end = await database.db
      .select()
      .from(jobExecutions)
      .where(eq(jobExecutions.jobId, job.jobId));
    expect(end.map((r) => [r.id, r.status, r.retryCount]).sort()).toEqual(
      [
        [row!.id, "completed", 2],
        [other!.id, "completed", 1],
      ].sort(),
    );
  });

  test("does not run an execution that already ended", async ({ database }) => {
    const job = await insertJob(database.db, 1);
    const [row] = await insertPending(database.db, job, 1);
    await database.db
      .update(jobExecutions)
      .set({ status: "cancelled" })
      .where(eq(jobExecutions.id, row!.id));
    expect(await claimExecution(database.db, row!, "worker-a")).toEqual({ kind: "gone" });
    expect(await claimExecution(database.db, { id: row!.id }, "worker-a")).toEqual({
      kind: "gone",
    });
    const unknown = { id: randomUUID(), scheduledAt: new Date() };
    expect(await claimExecution(database.db, unknown, "worker-a")).toEqual({ kind: "gone" });
    expect(await claimExecution(database.db, { id: unknown.id }, "worker-a")).toEqual({
      kind: "gone",
    });
  });

  test("counts a running execution of another month against maxConcurrent", async ({
    database,
  }) => {
    const job = await insertJob(database.db, 1);
    const [old, current] = await insertPending(database.db, job, 2);
    // Months apart: the two rows sit in different partitions of the history.
    const [moved] = await database.db
      .update(jobExecutions)
      .set({ scheduledAt: new Date(Date.now() - 62 * 86_400_000) })
      .where(eq(jobExecutions.id, old!.id))
      .returning();
    expect(await claimExecution(database.db, moved!, "worker-a")).toMatchObject({ kind: "run" });
    expect(await claimExecution(database.db, current!, "worker-b")).toEqual({
      kind: "skipped",
      errorMessage: "skipped: the job already has 1 running execution(s), its maxConcurrent is 1",
      jobType: "http",
      triggerType: current!.triggerType,
    });
    const [skipped] = await database.db
      .select()
      .from(jobExecutions)
      .where(eq(jobExecutions.id, current!.id));
    expect(skipped).toMatchObject({ status: "skipped", workerId: "worker-b", startedAt: null });
    expect(skipped!.completedAt).toBeInstanceOf(Date);
  });

  test.for([
    { message: "without its slot (queued by an earlier version)", slot: () => undefined },
    { message: "naming another slot than its row's", slot: () => new Date(Date.now() - 3_600_000) },
  ])("claims an execution from a message $message", async ({ slot }, { database }) => {
    const job = await insertJob(database.db, 1);
    const [row] = await insertPending(database.db, job, 1);
    const claim = await claimExecution(database.db, { id: row!.id, scheduledAt: slot() }, "w");
    expect(claim).toMatchObject({
      kind: "run",
      redelivered: false,
      execution: { id: row!.id, scheduledAt: row!.scheduledAt, status: "running", workerId: "w" },
    });
  });

  test("prepares its statements again on a connection that lost them", async ({ database }) => {
    // One connection, so the DEALLOCATE reaches the session the claim prepared on.
    const pool = createPool(database.url, { max: 1 });
    try {
      const db = createDb(pool);
      const job = await insertJob(db, 2);
      const [first, second] = await insertPending(db, job, 2);
      expect(await claimExecution(db, first!, "worker-a")).toMatchObject({ kind: "run" });
      await pool.query("DEALLOCATE ALL");
      expect(await claimExecution(db, second!, "worker-a")).toMatchObject({ kind: "run" });
    } finally {
      await pool.end();
    }
  });

  test("plans its statements once per connection, driven by indexes even on empty tables", async ({
    database,
  }) => {
    const pool = createPool(database.url, { max: 1 });
    try {
      const db = createDb(pool);
      // Planned while the tables are near empty, when a scan would look cheapest.
      const job = await insertJob(db, 20);
      for (const row of await insertPending(db, job, 12)) {
        expect(await claimExecution(db, row, "worker-a")).toMatchObject({ kind: "run" });
      }
      const { rows } = await pool.query<{ name: string; generic: string; custom: string }>(
        `SELECT name, generic_plans AS generic, custom_plans AS custom
           FROM pg_prepared_statements WHERE name LIKE 'scheduler_claim_%' ORDER BY name`,
      );
      expect(rows).toEqual([
        { name: "scheduler_claim_locks", generic: "12", custom: "0" },
        { name: "scheduler_claim_starts", generic: "12", custom: "0" },
      ]);
      // The plan kept for the connection reaches every row through an index, so it
      // stays right however large the tables grow.
      const [row] = await insertPending(db, job, 1);
      const args = `'{${row!.id}}', '{"${row!.scheduledAt.toISOString()}"}'`;
      const results = (await pool.query(
        `BEGIN; ${CLAIM_PLAN_SETTINGS};
         EXPLAIN EXECUTE scheduler_claim_locks(${args});
         EXPLAIN EXECUTE scheduler_claim_starts(${args}, 'worker-a'); ROLLBACK`,
      )) as unknown as { rows: { "QUERY PLAN": string }[] }[];
      const plans = results.filter((r) => r.rows.length > 0 && "QUERY PLAN" in r.rows[0]!);
      expect(plans).toHaveLength(2);
      for (const plan of plans) {
        const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
        expect(text).toContain("job_executions");
        expect(text).not.toMatch(/Seq Scan|Hash Join|Merge Join|Bitmap Heap Scan on job_exec/);
      }
    } finally {
      await pool.end();
    }
  });
});
