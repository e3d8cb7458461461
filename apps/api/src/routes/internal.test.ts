import { randomUUID } from "node:crypto";
import { describe, expect } from "vitest";
import { apiTest as it, jobBody, TEST_SERVICE_TOKEN } from "../testApp.js";

const token = { "x-service-token": TEST_SERVICE_TOKEN };

describe("internal API", () => {
  it.for([
    ["no token", {}],
    [
      "a wrong token of the same length",
      { "x-service-token": "x".repeat(TEST_SERVICE_TOKEN.length) },
    ],
    ["a token of another length", { "x-service-token": "short" }],
    ["a bearer JWT instead", { authorization: "Bearer abc" }],
  ] as const)("answers 401 for %s", async ([, headers], { app }) => {
    const res = await app.inject({
      method: "POST",
      url: "/internal/jobs/create",
      headers,
      payload: { ...jobBody(), tenantId: randomUUID(), createdBy: randomUUID() },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe("UNAUTHORIZED");
  });

  it("creates, triggers, reports, pauses and resumes a job for the named tenant", async ({
    app,
  }) => {
    const tenantId = randomUUID();
    const createdBy = randomUUID();
    const created = await app.inject({
      method: "POST",
      url: "/internal/jobs/create",
      headers: token,
      payload: { ...jobBody(), tenantId, createdBy },
    });
    expect(created.statusCode).toBe(201);
    const job = created.json();
    expect(job).toMatchObject({ tenantId, createdBy, status: "active" });

    const triggered = await app.inject({
      method: "POST",
      url: `/internal/jobs/${job.id}/trigger`,
      headers: token,
      payload: { tenantId },
    });
    expect(triggered.statusCode).toBe(202);
    expect(triggered.json()).toMatchObject({
      jobId: job.id,
      triggerType: "manual",
      triggeredBy: null,
    });

    const status = await app.inject({
      url: `/internal/jobs/${job.id}/status?tenantId=${tenantId}`,
      headers: token,
    });
    expect(status.json()).toMatchObject({
      jobId: job.id,
      status: "active",
      lastExecution: { id: triggered.json().id },
      nextExecutionAt: job.nextExecutionAt,
    });

    const paused = await app.inject({
      method: "POST",
      url: `/internal/jobs/${job.id}/pause`,
      headers: token,
      payload: { tenantId },
    });
    expect(paused.json().status).toBe("paused");
    const resumed = await app.inject({
      method: "POST",
      url: `/internal/jobs/${job.id}/resume`,
      headers: token,
      payload: { tenantId },
    });
    expect(resumed.json().status).toBe("active");

    const otherTenant = await app.inject({
      url: `/internal/jobs/${job.id}/status?tenantId=${randomUUID()}`,
      headers: token,
    });
    expect(otherTenant.statusCode).toBe(404);
    expect(otherTenant.json().error.code).toBe("JOB_NOT_FOUND");
  });

  it("creates a batch in one transaction", async ({ app, database }) => {
    const tenantId = randomUUID();
    const jobs = Array.from({ length: 20 }, (_, i) => jobBody({ name: `batch-${i}` }));
    const res = await app.inject({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: token,
      payload: { tenantId, createdBy: randomUUID(), jobs },
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().jobs.map((j: { name: string }) => j.name)).toEqual(jobs.map((j) => j.name));
    const { rows } = await database.pool.query(
      "SELECT count(*)::int AS n FROM scheduled_jobs WHERE tenant_id = $1",
      [tenantId],
    );
    expect(rows[0].n).toBe(20);
  });

  it("stores nothing of a batch with a bad job and names each bad index", async ({
    app,
    database,
  }) => {
    const tenantId = randomUUID();
    const jobs = [
      jobBody(),
      jobBody({ cronExpression: "nope" }),
      jobBody(),
      jobBody({ timezone: "Moon/Tranquility" }),
      { name: "x" },
    ];
    const res = await app.inject({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: token,
      payload: { tenantId, createdBy: randomUUID(), jobs },
    });
    expect(res.statusCode).toBe(400);
    const errors = res.json().error.details.errors as { index: number; code: string }[];
    expect([...new Set(errors.map((e) => e.index))]).toEqual([1, 3, 4]);
    expect(errors.find((e) => e.index === 1)?.code).toBe("INVALID_CRON_EXPRESSION");
    expect(errors.find((e) => e.index === 3)?.code).toBe("INVALID_TIMEZONE");
    const { rows } = await database.pool.query(
      "SELECT count(*)::int AS n FROM scheduled_jobs WHERE tenant_id = $1",
      [tenantId],
    );
    expect(rows[0].n).toBe(0);
  });

  it("refuses a batch of more than 1000 jobs and one with a repeated name", async ({ app }) => {
    const tooMany = await app.inject({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: token,
      payload: {
        tenantId: randomUUID(),
        createdBy: randomUUID(),
        jobs: Array.from({ length: 1001 }, () => ({})),
      },
    });
    expect(tooMany.statusCode).toBe(400);
    const twice = jobBody();
    const repeated = await app.inject({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: token,
      payload: { tenantId: randomUUID(), createdBy: randomUUID(), jobs: [twice, twice] },
    });
    expect(repeated.statusCode).toBe(409);
    expect(repeated.json().error.code).toBe("JOB_ALREADY_EXISTS");
  });

  it("answers QUOTA_EXCEEDED past the tenant's job quota and stores none of the batch", async ({
    app,
    database,
  }) => {
    const tenantId = randomUUID();
    const batch = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => jobBody({ name: `q-${from + i}` }));
    const first = await app.inject({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: token,
      payload: { tenantId, createdBy: randomUUID(), jobs: batch(20, 0) },
    });
    expect(first.statusCode).toBe(201);
    const over = await app.inject({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: token,
      payload: { tenantId, createdBy: randomUUID(), jobs: batch(6, 20) },
    });
    expect(over.statusCode).toBe(429);
    expect(over.json().error.code).toBe("QUOTA_EXCEEDED");
    const { rows } = await database.pool.query(
      "SELECT count(*)::int AS n FROM scheduled_jobs WHERE tenant_id = $1",
      [tenantId],
    );
    expect(rows[0].n).toBe(20);
  });

  it("answers /internal/health without a token", async ({ app }) => {
    const res = await app.inject({ url: "/internal/health" });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe("healthy");
  });
});
