import { randomUUID } from "node:crypto";
import { queueJobId, queuePriority } from "@scheduler/core";
import { describe, expect } from "vitest";
import {
  API,
  auth,
  createJob,
  insertExecution,
  apiTest as it,
  jobBody,
  newTenant,
} from "../testApp.js";

describe("PUT /jobs/{id}", () => {
  it("changes the given fields, recomputes the next fire time and keeps the rest", async ({
    app,
  }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant, { description: "before", tags: ["a"] });
    const res = await app.inject({
      method: "PUT",
      url: `${API}/jobs/${job.id}`,
      headers: auth(tenant.token()),
      payload: { cronExpression: "0 0 3 * * *", timezone: "Asia/Kolkata", priority: 7 },
    });
    expect(res.statusCode).toBe(200);
    const updated = res.json();
    expect(updated).toMatchObject({
      id: job.id,
      cronExpression: "0 0 3 * * *",
      timezone: "Asia/Kolkata",
      priority: 7,
      description: "before",
      tags: ["a"],
    });
    // 03:00 in Kolkata is 21:30 UTC.
    expect(updated.nextExecutionAt).toMatch(/T21:30:00\.000Z$/);
    expect(Date.parse(updated.updatedAt)).toBeGreaterThanOrEqual(
      Date.parse(job.updatedAt as string),
    );
  });

  it.for([
    ["a bad cron", { cronExpression: "61 * * * * *" }, "INVALID_CRON_EXPRESSION"],
    ["a bad zone", { timezone: "Mars/Base" }, "INVALID_TIMEZONE"],
    ["an unknown field", { colour: 1 }, "VALIDATION_ERROR"],
    ["a config wrong for the type", { config: { command: "ls" } }, "INVALID_JOB_CONFIG"],
  ] as const)("refuses %s and changes nothing", async ([, patch, code], { app }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant);
    const res = await app.inject({
      method: "PUT",
      url: `${API}/jobs/${job.id}`,
      headers: auth(tenant.token()),
      payload: patch,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe(code);
    const after = await app.inject({ url: `${API}/jobs/${job.id}`, headers: auth(tenant.token()) });
    expect(after.json()).toEqual(job);
  });

  it("answers 409 when renaming to a name the tenant already uses", async ({ app }) => {
    const tenant = newTenant();
    const a = await createJob(app, tenant);
    const b = await createJob(app, tenant);
    const res = await app.inject({
      method: "PUT",
      url: `${API}/jobs/${b.id}`,
      headers: auth(tenant.token()),
      payload: { name: a.name },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe("JOB_ALREADY_EXISTS");
  });
});

describe("DELETE /jobs/{id}", () => {
  it("deletes the job and answers 404 afterwards", async ({ app }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant);
    const res = await app.inject({
      method: "DELETE",
      url: `${API}/jobs/${job.id}`,
      headers: auth(tenant.token()),
    });
    expect(res.statusCode).toBe(204);
    const again = await app.inject({
      method: "DELETE",
      url: `${API}/jobs/${job.id}`,
      headers: auth(tenant.token()),
    });
    expect(again.statusCode).toBe(404);
    expect(again.json().error.code).toBe("JOB_NOT_FOUND");
  });
});

describe("pause, resume, stop", () => {
  it("pauses (idempotently), resumes from now and stops for good", async ({ app }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant, { cronExpression: "*/10 * * * * *" });
    const post = (action: string) =>
      app.inject({
        method: "POST",
        url: `${API}/jobs/${job.id}/${action}`,
        headers: auth(tenant.token()),
      });

    const paused = await post("pause");
    expect(paused.statusCode).toBe(200);
    expect(paused.json()).toMatchObject({ status: "paused", nextExecutionAt: null });
    expect((await post("pause")).json().status).toBe("paused");

    const before = Date.now();
    const resumed = (await post("resume")).json();
    expect(resumed.status).toBe("active");
    expect(Date.parse(resumed.nextExecutionAt)).toBeGreaterThan(before - 1000);

    const stopped = (await post("stop")).json();
    expect(stopped).toMatchObject({ status: "inactive", nextExecutionAt: null });
    const resumeInactive = await post("resume");
    expect(resumeInactive.statusCode).toBe(409);
    expect(resumeInactive.json().error.code).toBe("INVALID_STATE_TRANSITION");
    const pauseInactive = await post("pause");
    expect(pauseInactive.statusCode).toBe(409);
  });

  it("cancels pending and running executions on stop", async ({ app, database }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant);
    const pending = await insertExecution(
      database.pool,
      { id: job.id, tenantId: tenant.tenantId },
      "pending",
    );
    const running = await insertExecution(
      database.pool,
      { id: job.id, tenantId: tenant.tenantId },
      "running",
    );
    const done = await insertExecution(
      database.pool,
      { id: job.id, tenantId: tenant.tenantId },
      "completed",
    );
    await app.inject({
      method: "POST",
      url: `${API}/jobs/${job.id}/stop`,
      headers: auth(tenant.token()),
    });
    const statuses = await database.pool.query(
      "SELECT id, status FROM job_executions WHERE job_id = $1",
      [job.id],
    );
    const byId = Object.fromEntries(
      statuses.rows.map((r: { id: string; status: string }) => [r.id, r.status]),
    );
    expect(byId).toEqual({ [pending]: "cancelled", [running]: "cancelled", [done]: "completed" });
  });
});

describe("POST /jobs/{id}/trigger", () => {
  it("records a manual execution, queues it and works on a paused job", async ({
    app,
    testRedis,
  }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant);
    await app.inject({
      method: "POST",
      url: `${API}/jobs/${job.id}/pause`,
      headers: auth(tenant.token()),
    });
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/${job.id}/trigger`,
      headers: auth(tenant.token()),
    });
    expect(res.statusCode).toBe(202);
    const execution = res.json();
    expect(execution).toMatchObject({
      jobId: job.id,
      triggerType: "manual",
      triggeredBy: tenant.userId,
      status: "pending",
      retryCount: 0,
    });
    const key = `${testRedis.prefix}:bull:executions:${queueJobId(execution.executionId)}`;
    expect(await testRedis.redis.exists(key)).toBe(1);
  });

  it("queues a manual run with its job's priority, mapped as the scheduler maps it", async ({
    app,
    testRedis,
  }) => {
    const tenant = newTenant();
    const queued: Record<number, string | null> = {};
    for (const priority of [0, 37, 100]) {
      const job = await createJob(app, tenant, { priority });
      const res = await app.inject({
        method: "POST",
        url: `${API}/jobs/${job.id}/trigger`,
        headers: auth(tenant.token()),
      });
      expect(res.statusCode).toBe(202);
      const key = `${testRedis.prefix}:bull:executions:${queueJobId(res.json().executionId)}`;
      queued[priority] = await testRedis.redis.hget(key, "priority");
    }
    // BullMQ runs priority 0 (none) first, then 1, 2, …: API 100 first, API 0 last.
    // A manual run is its tenant's only execution of its second: burst rank 0.
    expect(queued).toEqual({ 0: "1600", 37: "1008", 100: "0" });
    for (const priority of [0, 37, 100]) {
      expect(queued[priority]).toBe(String(queuePriority(priority, 0)));
    }
  });

  it("answers 409 JOB_ALREADY_RUNNING at maxConcurrent running executions", async ({
    app,
    database,
  }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant, { maxConcurrent: 2 });
    for (let i = 0; i < 2; i++)
      await insertExecution(database.pool, { id: job.id, tenantId: tenant.tenantId }, "running");
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/${job.id}/trigger`,
      headers: auth(tenant.token()),
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe("JOB_ALREADY_RUNNING");
  });

  it("lets exactly maxConcurrent of many simultaneous triggers through once they run", async ({
    app,
    database,
  }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant, { maxConcurrent: 1 });
    await insertExecution(database.pool, { id: job.id, tenantId: tenant.tenantId }, "running");
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        app.inject({
          method: "POST",
          url: `${API}/jobs/${job.id}/trigger`,
          headers: auth(tenant.token()),
        }),
      ),
    );
    expect(answers.map((a) => a.statusCode)).toEqual([409, 409, 409, 409, 409]);
  });

  it("answers 403 without jobs:execute", async ({ app }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant);
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/${job.id}/trigger`,
      headers: auth(tenant.token(["jobs:read", "jobs:write"])),
    });
    expect(res.statusCode).toBe(403);
  });
});

describe("POST /jobs/validate and /jobs/{id}/validate", () => {
  it("lists the next fire times after `from` and stores nothing", async ({ app, database }) => {
    const tenant = newTenant();
    const before = (await database.pool.query("SELECT count(*)::int AS n FROM scheduled_jobs"))
      .rows[0].n;
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/validate?count=3&from=2026-03-08T06:00:00Z`,
      headers: auth(tenant.token()),
      payload: jobBody({ cronExpression: "0 30 2 * * *", timezone: "America/New_York" }),
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      valid: true,
      errors: [],
      nextExecutions: [
        "2026-03-08T07:00:00.000Z",
        "2026-03-09T06:30:00.000Z",
        "2026-03-10T06:30:00.000Z",
      ],
    });
    expect(
      (await database.pool.query("SELECT count(*)::int AS n FROM scheduled_jobs")).rows[0].n,
    ).toBe(before);
  });

  it("lists every problem of an invalid definition", async ({ app }) => {
    const tenant = newTenant();
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/validate`,
      headers: auth(tenant.token()),
      payload: jobBody({ timezone: "Nowhere/Else", config: { method: "GET" } }),
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.valid).toBe(false);
    expect(body.errors.map((e: { code: string }) => e.code).sort()).toEqual([
      "INVALID_JOB_CONFIG",
      "INVALID_TIMEZONE",
    ]);
    const shape = await app.inject({
      method: "POST",
      url: `${API}/jobs/validate`,
      headers: auth(tenant.token()),
      payload: { name: 5 },
    });
    expect(shape.json().valid).toBe(false);
    expect(shape.json().errors[0].code).toBe("VALIDATION_ERROR");
  });

  it("validates a stored job", async ({ app }) => {
    const tenant = newTenant();
    const job = await createJob(app, tenant, { cronExpression: "0 0 0 1 1 *" });
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/${job.id}/validate?count=2&from=2030-06-01T00:00:00Z`,
      headers: auth(tenant.token()),
    });
    expect(res.json()).toEqual({
      valid: true,
      errors: [],
      nextExecutions: ["2031-01-01T00:00:00.000Z", "2032-01-01T00:00:00.000Z"],
    });
    const missing = await app.inject({
      method: "POST",
      url: `${API}/jobs/${randomUUID()}/validate`,
      headers: auth(tenant.token()),
    });
    expect(missing.statusCode).toBe(404);
  });

  it("refuses a count over 100", async ({ app }) => {
    const tenant = newTenant();
    const res = await app.inject({
      method: "POST",
      url: `${API}/jobs/validate?count=101`,
      headers: auth(tenant.token()),
      payload: jobBody(),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("VALIDATION_ERROR");
  });
});
