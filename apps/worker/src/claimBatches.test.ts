import { randomUUID } from "node:crypto";
import {
  type ClaimKey,
  claimExecution,
  claimExecutions,
  createDb,
  createPool,
  type Db,
  type ExecutionClaim,
  jobExecutions,
  scheduledJobs,
} from "@scheduler/db";
import { test, waitFor } from "@scheduler/testkit";
import { eq } from "drizzle-orm";
import { describe, expect } from "vitest";
import { ClaimBatches } from "./claimBatches.js";

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

/** `count` pending executions of the job, their slots one ms apart in insertion order. */
async function insertPending(db: Db, job: { jobId: string; tenantId: string }, count: number) {
  const base = Date.now();
  const rows = Array.from({ length: count }, (_, i) => ({
    jobId: job.jobId,
    tenantId: job.tenantId,
    executionId: `${job.jobId}:m${randomUUID().slice(0, 13)}`,
    triggerType: "manual",
    status: "pending",
    scheduledAt: new Date(base + i),
  }));
  const inserted = await db.insert(jobExecutions).values(rows).returning();
  return inserted.sort((a, b) => a.scheduledAt.getTime() - b.scheduledAt.getTime());
}

const kinds = (claims: ExecutionClaim[]) => claims.map((c) => c.kind);

describe("claimExecutions (a batch)", () => {
  test("gives two executions of a job with maxConcurrent 1 one slot: the earlier slot runs", async ({
    database,
  }) => {
    const job = await insertJob(database.db, 1);
    const [first, second] = await insertPending(database.db, job, 2);
    const claims = await claimExecutions(database.db, [second!, first!], "worker-a");
    expect(claims.get(first!.id)).toMatchObject({ kind: "run", redelivered: false });
    expect(claims.get(second!.id)).toEqual({
      kind: "skipped",
      errorMessage: "skipped: the job already has 1 running execution(s), its maxConcurrent is 1",
      jobType: "http",
      triggerType: "manual",
    });
  });

  test("counts the executions already running: a job with one free slot starts one of three", async ({
    database,
  }) => {
    const job = await insertJob(database.db, 2);
    const [running, ...pending] = await insertPending(database.db, job, 4);
    expect(await claimExecution(database.db, running!, "worker-a")).toMatchObject({ kind: "run" });
    const claims = await claimExecutions(database.db, pending, "worker-b");
    expect(kinds(pending.map((p) => claims.get(p.id)!))).toEqual(["run", "skipped", "skipped"]);
  });

  test("takes over a redelivery in a batch without counting it, and counts it for the others", async ({
    database,
  }) => {
    const job = await insertJob(database.db, 1);
    const [redelivered, pending] = await insertPending(database.db, job, 2);
    expect(await claimExecution(database.db, redelivered!, "worker-a")).toMatchObject({
      kind: "run",
    });
    const claims = await claimExecutions(database.db, [pending!, redelivered!], "worker-b");
    expect(claims.get(redelivered!.id)).toMatchObject({
      kind: "run",
      redelivered: true,
      execution: { retryCount: 1, workerId: "worker-b", status: "running" },
    });
    expect(claims.get(pending!.id)).toMatchObject({ kind: "skipped" });
  });

  test("claims in one batch the keys without a slot, with the wrong slot, and those that name no row", async ({
    database,
  }) => {
    const job = await insertJob(database.db, 5);
    const [plain, unslotted, misslotted] = await insertPending(database.db, job, 3);
    const claims = await claimExecutions(
      database.db,
      [
        plain!,
        { id: unslotted!.id },
        { id: misslotted!.id, scheduledAt: new Date(Date.now() - 3_600_000) },
        { id: randomUUID(), scheduledAt: new Date() },
        { id: "not-a-uuid", scheduledAt: new Date() },
      ],
      "worker-a",
    );
    expect([...claims.keys()].sort()).toEqual([plain!.id, unslotted!.id, misslotted!.id].sort());
    for (const row of [plain!, unslotted!, misslotted!]) {
      expect(claims.get(row.id)).toMatchObject({
        kind: "run",
        execution: { id: row.id, scheduledAt: row.scheduledAt, status: "running" },
      });
    }
  });

  test("lets exactly one of two workers' batches take a job's last slot", async ({ database }) => {
    for (let round = 0; round < 5; round++) {
      const job = await insertJob(database.db, 2);
      const [running, a, b] = await insertPending(database.db, job, 3);
      await claimExecution(database.db, running!, "worker-0");
      // Each batch also holds an execution of a job of its own.
      const ownA = await insertPending(database.db, await insertJob(database.db, 1), 1);
      const ownB = await insertPending(database.db, await insertJob(database.db, 1), 1);
      const [claimsA, claimsB] = await Promise.all([
        claimExecutions(database.db, [a!, ...ownA], "worker-a"),
        claimExecutions(database.db, [...ownB, b!], "worker-b"),
      ]);
      expect(kinds([claimsA.get(a!.id)!, claimsB.get(b!.id)!]).sort()).toEqual(["run", "skipped"]);
      expect(claimsA.get(ownA[0]!.id)).toMatchObject({ kind: "run" });
      expect(claimsB.get(ownB[0]!.id)).toMatchObject({ kind: "run" });
    }
  });

  test("completes two batches holding the same jobs in opposite orders", async ({ database }) => {
    const jobs = await Promise.all(Array.from({ length: 6 }, () => insertJob(database.db, 2)));
    const rows = await Promise.all(jobs.map((job) => insertPending(database.db, job, 2)));
    const forward = rows.map((r) => r[0]!);
    const backward = rows.map((r) => r[1]!).reverse();
    // A third session holds the start lock of a middle job, so both batches stop inside
    // their lock statements holding what they took before it; taken in different
    // orders, releasing it would leave them waiting on each other.
    const holder = createPool(database.url, { max: 1 });
    const client = await holder.connect();
    try {
      const { rows: keys } = await client.query<{ key: number }>(
        `SELECT hashtext(job_id::text) AS key FROM unnest($1::uuid[]) AS j(job_id) ORDER BY 1`,
        [jobs.map((j) => j.jobId)],
      );
      await client.query("BEGIN");
      await client.query(
        "SELECT pg_advisory_xact_lock(hashtext('scheduler.execution-start'), $1)",
        [keys[3]!.key],
      );
      const both = Promise.all([
        claimExecutions(database.db, forward, "worker-a"),
        claimExecutions(database.db, backward, "worker-b"),
      ]);
      await waitFor(
        async () => {
          const { rows: waiting } = await client.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_locks
              WHERE locktype = 'advisory' AND NOT granted
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          );
          return waiting[0]!.n >= 2;
        },
        { what: "both batches waiting for start locks" },
      );
      await client.query("COMMIT");
      const [a, b] = await both;
      expect([...a.values(), ...b.values()].every((c) => c.kind === "run")).toBe(true);
      expect(a.size + b.size).toBe(12);
    } finally {
      client.release();
      await holder.end();
    }
  });
});

describe("ClaimBatches", () => {
  test("claims what queued up meanwhile in one batch; a cancel landing before it leaves that one gone", async ({
    database,
  }) => {
    const pool = createPool(database.url, { max: 2 });
    try {
      const db = createDb(pool);
      const job = await insertJob(db, 5);
      const [first, cancelled, third] = await insertPending(db, job, 3);
      const sizes: number[] = [];
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const batches = new ClaimBatches({
        claimBatch: async (keys: ClaimKey[]) => {
          sizes.push(keys.length);
          if (sizes.length === 1) await held;
          return claimExecutions(db, keys, "worker-a");
        },
      });
      const claims = [first!, cancelled!, third!].map((row) => batches.claim(row));
      await waitFor(() => sizes.length === 1, { what: "the first claim in flight" });
      await db
        .update(jobExecutions)
        .set({ status: "cancelled" })
        .where(eq(jobExecutions.id, cancelled!.id));
      release();
      expect(kinds(await Promise.all(claims))).toEqual(["run", "gone", "run"]);
      expect(sizes).toEqual([1, 2]);
    } finally {
      await pool.end();
    }
  });
});
