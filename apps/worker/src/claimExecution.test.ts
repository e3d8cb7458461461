import { randomUUID } from "node:crypto";
import {
  claimExecution,
  type Db,
  type ExecutionRow,
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
          rows.map((row, i) => claimExecution(database.db, row.id, `worker-${i}`)),
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
    const first = await claimExecution(database.db, row!.id, "worker-a");
    const again = await claimExecution(database.db, row!.id, "worker-b");
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

  test("does not run an execution that already ended", async ({ database }) => {
    const job = await insertJob(database.db, 1);
    const [row] = await insertPending(database.db, job, 1);
    await database.db
      .update(jobExecutions)
      .set({ status: "cancelled" })
      .where(eq(jobExecutions.id, row!.id));
    expect(await claimExecution(database.db, row!.id, "worker-a")).toEqual({ kind: "gone" });
    expect(await claimExecution(database.db, randomUUID(), "worker-a")).toEqual({ kind: "gone" });
  });
});
