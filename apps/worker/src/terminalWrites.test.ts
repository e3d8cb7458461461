import { randomUUID } from "node:crypto";
import {
  claimExecution,
  type Db,
  type ExecutionFinish,
  executionRollups,
  finishExecution,
  finishExecutions,
  jobExecutions,
  scheduledJobs,
} from "@scheduler/db";
import { test } from "@scheduler/testkit";
import { eq, inArray } from "drizzle-orm";
import { describe, expect } from "vitest";
import { TerminalWrites } from "./terminalWrites.js";

/** `count` running executions of a new job, claimed as a worker does. */
async function runningExecutions(db: Db, count: number) {
  const tenantId = randomUUID();
  const [job] = await db
    .insert(scheduledJobs)
    .values({
      name: `job-${randomUUID()}`,
      cronExpression: "0 0 0 1 1 *",
      jobType: "http",
      config: { url: "http://example.com", method: "GET" },
      maxConcurrent: count,
      tenantId,
      createdBy: randomUUID(),
    })
    .returning({ id: scheduledJobs.id });
  const rows = await db
    .insert(jobExecutions)
    .values(
      Array.from({ length: count }, (_, i) => ({
        jobId: job!.id,
        tenantId,
        executionId: `${job!.id}:m${i}`,
        triggerType: "manual",
        status: "pending",
        scheduledAt: new Date(Date.now() - i),
      })),
    )
    .returning();
  for (const row of rows) await claimExecution(db, row, "worker-a");
  return { jobId: job!.id, tenantId, rows };
}

/** TerminalWrites over the database, recording the size of each write it makes. */
function writer(db: Db) {
  const sizes: number[] = [];
  const writes = new TerminalWrites({
    writeBatch: (finishes) => {
      sizes.push(finishes.length);
      return finishExecutions(db, finishes);
    },
    writeOne: ({ key, outcome }) => {
      sizes.push(1);
      return finishExecution(db, key, outcome);
    },
  });
  return { writes, sizes };
}

describe("TerminalWrites", () => {
  test("writes what queued up meanwhile in one batch, each row as a write of its own would", async ({
    database,
  }) => {
    const { db } = database;
    const { rows, tenantId } = await runningExecutions(db, 6);
    // Cancelled meanwhile: its write must not take effect.
    await db
      .update(jobExecutions)
      .set({ status: "cancelled" })
      .where(eq(jobExecutions.id, rows[5]!.id));
    const finishes: ExecutionFinish[] = rows.map((row, i) => ({
      key: row,
      outcome:
        i % 2 === 0
          ? { status: "completed", result: { success: true, result: [i, "x"] }, retryCount: i }
          : {
              status: "failed",
              errorType: "USER_ERROR",
              errorMessage: `no ${i}`,
              errorStack: null,
              retryCount: 1,
            },
    }));
    // The runs recorded their retries (a terminal write names the run's retry count).
    for (const { key, outcome } of finishes) {
      await db
        .update(jobExecutions)
        .set({ retryCount: outcome.retryCount })
        .where(eq(jobExecutions.id, key.id));
    }
    const { writes, sizes } = writer(db);
    const recorded = await Promise.all(finishes.map((f) => writes.record(f)));
    expect(recorded).toEqual([true, true, true, true, true, false]);
    expect(sizes).toEqual([1, 5]);

    const stored = await db
      .select()
      .from(jobExecutions)
      .where(
        inArray(
          jobExecutions.id,
          rows.map((r) => r.id),
        ),
      );
    const byId = new Map(stored.map((r) => [r.id, r]));
    for (const [i, row] of rows.entries()) {
      const e = byId.get(row.id)!;
      if (i === 5) {
        expect(e.status).toBe("cancelled");
        continue;
      }
      expect(e.completedAt).toBeInstanceOf(Date);
      expect(e.durationMs).toBeGreaterThanOrEqual(0);
      if (i % 2 === 0) {
        expect(e).toMatchObject({
          status: "completed",
          result: { success: true, result: [i, "x"] },
          retryCount: i,
          progress: 100,
          errorType: null,
        });
      } else {
        expect(e).toMatchObject({
          status: "failed",
          errorType: "USER_ERROR",
          errorMessage: `no ${i}`,
          retryCount: 1,
          result: null,
        });
      }
    }
    // The batch is rolled up as single writes are: 3 completed, 2 failed.
    const rollups = await db
      .select()
      .from(executionRollups)
      .where(eq(executionRollups.tenantId, tenantId));
    const total = (status: string) =>
      rollups
        .filter((r) => r.status === status && r.jobId === rows[0]!.jobId)
        .reduce((n, r) => n + r.executions, 0);
    expect([total("completed"), total("failed")]).toEqual([3, 2]);
  });

  test("writes a batch the database refuses one by one, so only the refused write fails", async ({
    database,
  }) => {
    const { db } = database;
    const { rows } = await runningExecutions(db, 4);
    const { writes, sizes } = writer(db);
    const results = await Promise.allSettled(
      rows.map((row, i) =>
        writes.record({
          key: row,
          // error_type is varchar(30): the database refuses the third write.
          outcome: { status: "failed", errorType: i === 2 ? "X".repeat(31) : "USER_ERROR" },
        }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
    ]);
    expect(sizes).toEqual([1, 3, 1, 1, 1]);
    const statuses = await db
      .select({ id: jobExecutions.id, status: jobExecutions.status })
      .from(jobExecutions)
      .where(
        inArray(
          jobExecutions.id,
          rows.map((r) => r.id),
        ),
      );
    const byId = new Map(statuses.map((r) => [r.id, r.status]));
    expect(rows.map((r) => byId.get(r.id))).toEqual(["failed", "failed", "running", "failed"]);
  });

  test("puts two writes of one execution in different batches", async ({ database }) => {
    const { db } = database;
    const { rows } = await runningExecutions(db, 2);
    const { writes, sizes } = writer(db);
    const [a, b] = rows;
    const recorded = await Promise.all([
      writes.record({ key: a!, outcome: { status: "completed" } }),
      writes.record({ key: b!, outcome: { status: "completed" } }),
      writes.record({ key: b!, outcome: { status: "failed" } }),
    ]);
    expect(sizes).toEqual([1, 1, 1]);
    expect(recorded).toEqual([true, true, false]);
  });
});
