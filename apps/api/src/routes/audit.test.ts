import { randomUUID } from "node:crypto";
import type { FastifyInstance, InjectOptions } from "fastify";
import { describe, expect } from "vitest";
import {
  API,
  auth,
  createJob,
  insertExecution,
  apiTest as it,
  jobBody,
  newTenant,
  TEST_SERVICE_TOKEN,
  type Tenant,
} from "../testApp.js";

const SECRET = "Bearer s3cr3t-token-value-0123456789";
const OTHER_SECRET = "k-abcdef-987654321";
const secretConfig = (authorization = SECRET) => ({
  url: "https://example.com/hook",
  method: "POST",
  headers: { Authorization: authorization, "X-Api-Key": OTHER_SECRET, Accept: "text/plain" },
});

interface AuditRow {
  id: string;
  action: string;
  actor_type: string;
  actor_id: string | null;
  target_type: string;
  target_id: string | null;
  request_id: string;
  changes: Record<string, unknown>;
}

type Pool = { query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }> };

/** A state-changing call. */
interface Call {
  method: "POST" | "PUT" | "DELETE";
  url: string;
  headers: Record<string, string>;
  payload?: InjectOptions["payload"];
}

async function auditCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query("SELECT count(*)::int AS n FROM audit_events");
  return (rows[0] as { n: number }).n;
}

/**
 * Makes one call with a request id of its own, and returns the audit events it wrote,
 * after checking it wrote exactly one and nothing else appeared.
 */
async function auditedCall(
  app: FastifyInstance,
  pool: Pool,
  call: Call,
): Promise<{ status: number; body: unknown; event: AuditRow }> {
  const requestId = `req-${randomUUID()}`;
  const before = await auditCount(pool);
  const res = await app.inject({
    ...call,
    headers: { ...call.headers, "x-request-id": requestId },
  });
  expect(res.statusCode, `${call.method} ${call.url}: ${res.body}`).toBeLessThan(300);
  const { rows } = await pool.query("SELECT * FROM audit_events WHERE request_id = $1", [
    requestId,
  ]);
  expect(rows, `${call.method} ${call.url}`).toHaveLength(1);
  expect(await auditCount(pool)).toBe(before + 1);
  return {
    status: res.statusCode,
    body: res.body ? res.json() : undefined,
    event: rows[0] as AuditRow,
  };
}

const userHeaders = (tenant: Tenant) => auth(tenant.token());
const serviceHeaders = { "x-service-token": TEST_SERVICE_TOKEN };

describe("audit trail", () => {
  it("records each state-changing tenant call once, in the change's transaction, without secrets", async ({
    app,
    database,
  }) => {
    const { pool } = database;
    const tenant = newTenant();
    const user = { actor_type: "user", actor_id: tenant.userId };
    const h = userHeaders(tenant);

    const created = await auditedCall(app, pool, {
      method: "POST",
      url: `${API}/jobs`,
      headers: h,
      payload: jobBody({ config: secretConfig() }),
    });
    const job = created.body as { id: string; name: string };
    expect(created.event).toMatchObject({
      ...user,
      action: "job.create",
      target_type: "job",
      target_id: job.id,
    });
    expect(created.event.changes).toMatchObject({
      name: { to: job.name },
      cronExpression: { to: "0 */5 * * * *" },
      config: { to: { headers: { Authorization: "******", "X-Api-Key": "******" } } },
      status: { to: "active" },
    });

    const updated = await auditedCall(app, pool, {
      method: "PUT",
      url: `${API}/jobs/${job.id}`,
      headers: h,
      payload: { cronExpression: "30 0 3 * * *", config: secretConfig(`${SECRET}-rotated`) },
    });
    expect(updated.event).toMatchObject({ ...user, action: "job.update", target_id: job.id });
    // Only what changed: the schedule, its next fire time (second 30: never the old
    // schedule's, even at 03:00), and the config (its secret).
    expect(Object.keys(updated.event.changes).sort()).toEqual(
      ["config", "cronExpression", "nextExecutionAt"].sort(),
    );
    expect(updated.event.changes.cronExpression).toEqual({
      from: "0 */5 * * * *",
      to: "30 0 3 * * *",
    });

    const triggered = await auditedCall(app, pool, {
      method: "POST",
      url: `${API}/jobs/${job.id}/trigger`,
      headers: h,
    });
    const execution = triggered.body as { id: string; executionId: string };
    expect(triggered.event).toMatchObject({ ...user, action: "job.trigger", target_id: job.id });
    expect(triggered.event.changes).toEqual({
      execution: { id: execution.id, executionId: execution.executionId, triggerType: "manual" },
    });

    const cancelled = await auditedCall(app, pool, {
      method: "POST",
      url: `${API}/executions/${execution.id}/cancel`,
      headers: h,
    });
    expect(cancelled.event).toMatchObject({
      ...user,
      action: "execution.cancel",
      target_type: "execution",
      target_id: execution.id,
      changes: { status: { from: "pending", to: "cancelled" } },
    });

    const retried = await auditedCall(app, pool, {
      method: "POST",
      url: `${API}/executions/${execution.id}/retry`,
      headers: h,
    });
    expect(retried.event).toMatchObject({
      ...user,
      action: "execution.retry",
      target_type: "execution",
      target_id: execution.id,
      changes: { retriedBy: { id: (retried.body as { id: string }).id, triggerType: "retry" } },
    });

    for (const [action, status] of [
      ["pause", "paused"],
      ["pause", "paused"],
      ["resume", "active"],
      ["stop", "inactive"],
    ] as const) {
      const { event } = await auditedCall(app, pool, {
        method: "POST",
        url: `${API}/jobs/${job.id}/${action}`,
        headers: h,
      });
      expect(event).toMatchObject({ ...user, action: `job.${action}`, target_id: job.id });
      const change = event.changes.status as { to?: string } | undefined;
      // A repeated pause changes nothing but is still recorded, with no changed fields.
      if (change) expect(change.to).toBe(status);
    }

    const deleted = await auditedCall(app, pool, {
      method: "DELETE",
      url: `${API}/jobs/${job.id}`,
      headers: h,
    });
    expect(deleted.event).toMatchObject({
      ...user,
      action: "job.delete",
      target_id: job.id,
      changes: { name: { from: job.name }, cancelledExecutions: 0 },
    });

    // Neither a secret nor its sealed form is in the trail.
    const { rows } = await pool.query(
      "SELECT changes::text AS text FROM audit_events WHERE tenant_id = $1",
      [tenant.tenantId],
    );
    expect(rows).toHaveLength(10);
    for (const { text } of rows as { text: string }[]) {
      expect(text).not.toContain("s3cr3t");
      expect(text).not.toContain(OTHER_SECRET);
      expect(text).not.toContain('"$enc"');
    }
  });

  it("records each state-changing internal call once, as the service acting for the named user", async ({
    app,
    database,
  }) => {
    const { pool } = database;
    const tenantId = randomUUID();
    const createdBy = randomUUID();
    const service = { actor_type: "service" };

    const created = await auditedCall(app, pool, {
      method: "POST",
      url: "/internal/jobs/create",
      headers: serviceHeaders,
      payload: { ...jobBody({ config: secretConfig() }), tenantId, createdBy },
    });
    const job = created.body as { id: string };
    expect(created.event).toMatchObject({
      ...service,
      actor_id: createdBy,
      action: "job.create",
      target_id: job.id,
    });

    const batch = await auditedCall(app, pool, {
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: serviceHeaders,
      payload: { tenantId, createdBy, jobs: [jobBody({ config: secretConfig() }), jobBody()] },
    });
    const batchJobs = (batch.body as { jobs: { id: string }[] }).jobs;
    expect(batch.event).toMatchObject({
      ...service,
      actor_id: createdBy,
      action: "job.batch_create",
      target_type: "job",
      target_id: null,
    });
    expect((batch.event.changes.jobs as { id: string }[]).map((j) => j.id)).toEqual(
      batchJobs.map((j) => j.id),
    );

    const triggeredBy = randomUUID();
    const triggered = await auditedCall(app, pool, {
      method: "POST",
      url: `/internal/jobs/${job.id}/trigger`,
      headers: serviceHeaders,
      payload: { tenantId, triggeredBy },
    });
    expect(triggered.event).toMatchObject({
      ...service,
      actor_id: triggeredBy,
      action: "job.trigger",
      target_id: job.id,
    });

    for (const action of ["pause", "resume"] as const) {
      const { event } = await auditedCall(app, pool, {
        method: "POST",
        url: `/internal/jobs/${job.id}/${action}`,
        headers: serviceHeaders,
        payload: { tenantId },
      });
      expect(event).toMatchObject({ ...service, actor_id: null, action: `job.${action}` });
    }

    const { rows } = await pool.query(
      "SELECT changes::text AS text FROM audit_events WHERE tenant_id = $1",
      [tenantId],
    );
    expect(rows).toHaveLength(5);
    for (const { text } of rows as { text: string }[]) {
      expect(text).not.toContain("s3cr3t");
      expect(text).not.toContain(OTHER_SECRET);
    }
  });

  it("records nothing for a change that fails", async ({ app, database }) => {
    const { pool } = database;
    const tenant = newTenant();
    const h = userHeaders(tenant);
    const job = await createJob(app, tenant, { maxConcurrent: 1 });
    const stopped = await createJob(app, tenant);
    await app.inject({ method: "POST", url: `${API}/jobs/${stopped.id}/stop`, headers: h });
    const j = { id: job.id, tenantId: tenant.tenantId };
    const completed = await insertExecution(pool, j, "completed", { durationMs: 5 });
    await insertExecution(pool, j, "running");
    const tenantId = randomUUID();

    const failing: [string, Call, number][] = [
      [
        "a duplicate name",
        { method: "POST", url: `${API}/jobs`, headers: h, payload: jobBody({ name: job.name }) },
        409,
      ],
      [
        "a bad cron",
        {
          method: "POST",
          url: `${API}/jobs`,
          headers: h,
          payload: jobBody({ cronExpression: "nope" }),
        },
        400,
      ],
      [
        "a rename onto another job's name",
        {
          method: "PUT",
          url: `${API}/jobs/${stopped.id}`,
          headers: h,
          payload: { name: job.name },
        },
        409,
      ],
      [
        "resuming a stopped job",
        { method: "POST", url: `${API}/jobs/${stopped.id}/resume`, headers: h },
        409,
      ],
      [
        "a trigger over maxConcurrent",
        { method: "POST", url: `${API}/jobs/${job.id}/trigger`, headers: h },
        409,
      ],
      [
        "cancelling a completed execution",
        { method: "POST", url: `${API}/executions/${completed}/cancel`, headers: h },
        409,
      ],
      [
        "retrying a completed execution",
        { method: "POST", url: `${API}/executions/${completed}/retry`, headers: h },
        409,
      ],
      [
        "deleting a missing job",
        { method: "DELETE", url: `${API}/jobs/${randomUUID()}`, headers: h },
        404,
      ],
      [
        "a batch with an invalid job",
        {
          method: "POST",
          url: "/internal/jobs/batch-create",
          headers: serviceHeaders,
          payload: {
            tenantId,
            createdBy: randomUUID(),
            jobs: [jobBody(), jobBody({ cronExpression: "x" })],
          },
        },
        400,
      ],
      [
        "a batch over the tenant's quota",
        {
          method: "POST",
          url: "/internal/jobs/batch-create",
          headers: serviceHeaders,
          payload: {
            tenantId,
            createdBy: randomUUID(),
            jobs: Array.from({ length: 26 }, () => jobBody()),
          },
        },
        429,
      ],
    ];
    for (const [name, request, status] of failing) {
      const before = await auditCount(pool);
      const res = await app.inject(request);
      expect(res.statusCode, `${name}: ${res.body}`).toBe(status);
      expect(await auditCount(pool), name).toBe(before);
    }
  });

  it("rolls the change back when its audit event cannot be written", async ({ app, database }) => {
    const { pool } = database;
    const tenant = newTenant();
    const job = await createJob(app, tenant);
    await pool.query(
      `ALTER TABLE audit_events ADD CONSTRAINT test_refuses_pause
       CHECK (tenant_id <> '${tenant.tenantId}' OR action <> 'job.pause')`,
    );
    try {
      const res = await app.inject({
        method: "POST",
        url: `${API}/jobs/${job.id}/pause`,
        headers: userHeaders(tenant),
      });
      expect(res.statusCode).toBe(500);
    } finally {
      await pool.query("ALTER TABLE audit_events DROP CONSTRAINT test_refuses_pause");
    }
    const read = await app.inject({ url: `${API}/jobs/${job.id}`, headers: userHeaders(tenant) });
    expect(read.json().status).toBe("active");
  });
});

describe("GET /audit", () => {
  it("lists the tenant's events newest first, with each filter, page by page", async ({ app }) => {
    const tenant = newTenant();
    const other = newTenant();
    const h = userHeaders(tenant);
    const a = await createJob(app, tenant, { config: secretConfig() });
    const b = await createJob(app, tenant);
    await app.inject({ method: "POST", url: `${API}/jobs/${a.id}/pause`, headers: h });
    await app.inject({ method: "POST", url: `${API}/jobs/${b.id}/pause`, headers: h });
    await app.inject({ method: "POST", url: `${API}/jobs/${a.id}/resume`, headers: h });
    await createJob(app, other);

    const get = async (query = "", token = tenant.token()) => {
      const res = await app.inject({ url: `${API}/audit${query}`, headers: auth(token) });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).not.toContain("s3cr3t");
      return res.json() as {
        data: {
          id: string;
          at: string;
          action: string;
          targetId: string;
          actor: unknown;
          requestId: string;
        }[];
        nextCursor: string | null;
      };
    };
    const all = await get();
    expect(all.data.map((e) => [e.action, e.targetId])).toEqual([
      ["job.resume", a.id],
      ["job.pause", b.id],
      ["job.pause", a.id],
      ["job.create", b.id],
      ["job.create", a.id],
    ]);
    expect(all.data[0]).toMatchObject({
      actor: { type: "user", id: tenant.userId },
      targetType: "job",
      requestId: expect.any(String),
      changes: { status: { from: "paused", to: "active" } },
    });
    expect((await get("?action=job.pause")).data.map((e) => e.targetId)).toEqual([b.id, a.id]);
    expect((await get(`?targetId=${a.id}`)).data.map((e) => e.action)).toEqual([
      "job.resume",
      "job.pause",
      "job.create",
    ]);
    const [newest, , , , oldest] = all.data;
    expect((await get(`?from=${oldest!.at}&to=${oldest!.at}`)).data.map((e) => e.id)).toContain(
      oldest!.id,
    );
    expect((await get(`?from=${newest!.at}`)).data.map((e) => e.id)).toContain(newest!.id);

    const pages: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await get(`?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      pages.push(...page.data.map((e) => e.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(pages).toEqual(all.data.map((e) => e.id));

    expect((await get("", other.token())).data.map((e) => e.action)).toEqual(["job.create"]);
  });

  it("needs jobs:read and refuses unknown filters", async ({ app }) => {
    const tenant = newTenant();
    const forbidden = await app.inject({
      url: `${API}/audit`,
      headers: auth(tenant.token(["jobs:write"])),
    });
    expect(forbidden.statusCode).toBe(403);
    for (const query of ["?action=job.explode", "?targetId=42", "?from=yesterday", "?limit=500"]) {
      const res = await app.inject({ url: `${API}/audit${query}`, headers: userHeaders(tenant) });
      expect(res.statusCode, query).toBe(400);
      expect(res.json().error.code).toBe("VALIDATION_ERROR");
    }
  });
});
