import { randomUUID } from "node:crypto";
import type { FastifyInstance } from "fastify";
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
import { servedRoutes } from "./routes.js";

/**
 * Tenant B, holding every permission, against tenant A's data: on every route the API
 * serves, B neither sees nor changes anything of A's. The table below must name every
 * route (read from the app itself), so a route added without an isolation case fails.
 */

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON answers and rows, read by the cases
type Json = any;
type Pool = { query(sql: string, params?: unknown[]): Promise<{ rows: Json[] }> };

interface World {
  a: Tenant;
  b: Tenant;
  /** A's job, its executions (one per status and trigger type) and its audit events. */
  jobA: { id: string; name: string };
  /** Names of A's other jobs: B may take each name once, in one tenant of its own. */
  otherNamesA: [string, string];
  executionsA: Record<"failed" | "running" | "completed" | "pending" | "old", string>;
  /** B's own job, for routes that need one of B's ids. */
  jobB: { id: string };
  /** Ids of A's data: none may appear in an answer to B unless B's request named it. */
  marks: string[];
}

interface Call {
  method: "GET" | "POST" | "PUT" | "DELETE";
  url: string;
  payload?: unknown;
  headers?: Record<string, string>;
}

type Case = (t: {
  w: World;
  call: (c: Call) => Promise<{ status: number; body: Json; raw: string }>;
  pool: Pool;
}) => Promise<void>;

const DAY = 86_400_000;

const service = { "x-service-token": TEST_SERVICE_TOKEN };

function expectNotFound(res: { status: number; body: Json }, code: string, what: string) {
  expect(res.status, what).toBe(404);
  expect(res.body.error.code, what).toBe(code);
}

function idsOf(res: { body: Json }): string[] {
  return (res.body.data as { id: string }[]).map((row) => row.id);
}

const jobOfA =
  (action: string, method: Call["method"] = "POST", payload?: unknown): Case =>
  async ({ w, call }) => {
    const url = `${API}/jobs/${w.jobA.id}${action}`;
    expectNotFound(await call({ method, url, payload }), "JOB_NOT_FOUND", `${method} ${url}`);
  };

const executionOfA =
  (action: string, which: keyof World["executionsA"], method: Call["method"] = "POST"): Case =>
  async ({ w, call }) => {
    const url = `${API}/executions/${w.executionsA[which]}${action}`;
    expectNotFound(await call({ method, url }), "EXECUTION_NOT_FOUND", `${method} ${url}`);
  };

const internalOnJobOfA =
  (action: string, method: Call["method"] = "POST"): Case =>
  async ({ w, call }) => {
    const url =
      method === "GET"
        ? `/internal/jobs/${w.jobA.id}/${action}?tenantId=${w.b.tenantId}`
        : `/internal/jobs/${w.jobA.id}/${action}`;
    const payload = method === "GET" ? undefined : { tenantId: w.b.tenantId };
    expectNotFound(
      await call({ method, url, payload, headers: service }),
      "JOB_NOT_FOUND",
      `${method} ${url}`,
    );
  };

const executionQueries = (w: World) => [
  "",
  `?jobId=${w.jobA.id}`,
  ...["pending", "running", "completed", "failed", "cancelled", "skipped"].map(
    (s) => `?status=${s}`,
  ),
  "?triggerType=scheduled",
  "?triggerType=manual",
  "?triggerType=retry",
  `?from=${new Date(Date.now() - 30 * DAY).toISOString()}&to=${new Date(Date.now() + DAY).toISOString()}`,
  `?jobId=${w.jobA.id}&status=failed&triggerType=scheduled`,
];

const cases: Record<string, Case> = {
  "GET /health": async ({ call }) => {
    expect((await call({ method: "GET", url: "/health" })).status).toBeLessThan(600);
  },
  "GET /internal/health": async ({ call }) => {
    expect((await call({ method: "GET", url: "/internal/health" })).status).toBeLessThan(600);
  },
  "GET /livez": async ({ call }) => {
    expect((await call({ method: "GET", url: "/livez" })).status).toBe(200);
  },
  "GET /readyz": async ({ call }) => {
    expect((await call({ method: "GET", url: "/readyz" })).status).toBeLessThan(600);
  },

  "POST /api/v1/scheduler/jobs": async ({ w, call }) => {
    // The name A uses is free for B: a 409 would tell B that A has such a job.
    const same = await call({
      method: "POST",
      url: `${API}/jobs`,
      payload: jobBody({ name: w.jobA.name }),
    });
    expect(same.status).toBe(201);
    expect(same.body.tenantId).toBe(w.b.tenantId);
    // Naming A's tenant in the body is not a way in.
    const named = await call({
      method: "POST",
      url: `${API}/jobs`,
      payload: { ...jobBody(), tenantId: w.a.tenantId, createdBy: w.a.userId },
    });
    expect(named.status).toBe(400);
  },
  "GET /api/v1/scheduler/jobs": async ({ w, call }) => {
    for (const query of [
      "",
      `?name=${encodeURIComponent(w.jobA.name)}`,
      `?name=${encodeURIComponent(w.jobA.name.slice(0, 6))}`,
      "?tag=tenant-a",
      "?status=active",
      "?status=paused",
      "?jobType=http",
      "?limit=200",
    ]) {
      const res = await call({ method: "GET", url: `${API}/jobs${query}` });
      expect(res.status, query).toBe(200);
      expect(idsOf(res), query).not.toContain(w.jobA.id);
    }
  },
  "POST /api/v1/scheduler/jobs/validate": async ({ w, call }) => {
    const res = await call({
      method: "POST",
      url: `${API}/jobs/validate`,
      payload: jobBody({ name: w.jobA.name }),
    });
    expect(res.status).toBe(200);
    expect(res.body.valid).toBe(true);
  },
  "GET /api/v1/scheduler/jobs/:id": jobOfA("", "GET"),
  "PUT /api/v1/scheduler/jobs/:id": async (t) => {
    await jobOfA("", "PUT", { name: "taken-over", description: "by B" })(t);
    // B renaming its own job onto A's name: allowed, names are per tenant.
    const rename = await t.call({
      method: "PUT",
      url: `${API}/jobs/${t.w.jobB.id}`,
      payload: { name: t.w.otherNamesA[0] },
    });
    expect(rename.status).toBe(200);
  },
  "DELETE /api/v1/scheduler/jobs/:id": jobOfA("", "DELETE"),
  "POST /api/v1/scheduler/jobs/:id/validate": jobOfA("/validate"),
  "POST /api/v1/scheduler/jobs/:id/trigger": jobOfA("/trigger"),
  "POST /api/v1/scheduler/jobs/:id/pause": jobOfA("/pause"),
  "POST /api/v1/scheduler/jobs/:id/resume": jobOfA("/resume"),
  "POST /api/v1/scheduler/jobs/:id/stop": jobOfA("/stop"),
  "GET /api/v1/scheduler/jobs/:id/executions": async (t) => {
    await jobOfA("/executions", "GET")(t);
    for (const query of executionQueries(t.w).filter((q) => !q.includes("jobId"))) {
      const res = await t.call({
        method: "GET",
        url: `${API}/jobs/${t.w.jobB.id}/executions${query}`,
      });
      expect(res.status, query).toBe(200);
      expect(idsOf(res), query).toEqual([]);
    }
    // The job is the path's: a jobId in the query does not widen it to A's job.
    const widened = await t.call({
      method: "GET",
      url: `${API}/jobs/${t.w.jobB.id}/executions?jobId=${t.w.jobA.id}`,
    });
    expect(widened.status).toBe(400);
  },

  "GET /api/v1/scheduler/executions": async ({ w, call }) => {
    for (const query of executionQueries(w)) {
      const res = await call({ method: "GET", url: `${API}/executions${query}` });
      expect(res.status, query).toBe(200);
      expect(idsOf(res), query).toEqual([]);
    }
  },
  "GET /api/v1/scheduler/executions/stats": async ({ w, call }) => {
    const from = new Date(Date.now() - 30 * DAY).toISOString();
    const to = new Date(Date.now() + DAY).toISOString();
    // Whole days come from the rollups, the rest from rows: both must be B's only.
    for (const query of [
      "",
      `?from=${from}&to=${to}`,
      `?jobId=${w.jobA.id}`,
      `?jobId=${w.jobA.id}&from=${from}&to=${to}`,
      `?jobId=${w.jobB.id}&from=${from}&to=${to}`,
    ]) {
      const res = await call({ method: "GET", url: `${API}/executions/stats${query}` });
      expect(res.status, query).toBe(200);
      expect(res.body, query).toMatchObject({
        total: 0,
        completed: 0,
        failed: 0,
        running: 0,
        pending: 0,
      });
    }
  },
  "GET /api/v1/scheduler/executions/:id": executionOfA("", "old", "GET"),
  "POST /api/v1/scheduler/executions/:id/cancel": async (t) => {
    await executionOfA("/cancel", "running")(t);
    await executionOfA("/cancel", "pending")(t);
  },
  "POST /api/v1/scheduler/executions/:id/retry": executionOfA("/retry", "failed"),

  "GET /api/v1/scheduler/audit": async ({ w, call, pool }) => {
    const { rows } = await pool.query("SELECT id FROM audit_events WHERE tenant_id = $1", [
      w.a.tenantId,
    ]);
    const eventsOfA = rows.map((r: { id: string }) => String(r.id));
    expect(eventsOfA.length).toBeGreaterThan(0);
    for (const query of [
      "",
      `?targetId=${w.jobA.id}`,
      "?action=job.create",
      "?action=job.pause",
      `?from=${new Date(Date.now() - DAY).toISOString()}`,
    ]) {
      const res = await call({ method: "GET", url: `${API}/audit${query}` });
      expect(res.status, query).toBe(200);
      const seen = res.body.data as { id: unknown; targetId: string }[];
      expect(
        seen.filter((e) => eventsOfA.includes(String(e.id)) || e.targetId === w.jobA.id),
        query,
      ).toEqual([]);
    }
  },

  "GET /api/v1/scheduler/status": async ({ w, call, pool }) => {
    const res = await call({ method: "GET", url: `${API}/status` });
    expect(res.status).toBe(200);
    expect(res.body.jobs).toEqual(await jobCounts(pool, w.b.tenantId));
  },
  "GET /api/v1/scheduler/metrics": async ({ w, call, pool }) => {
    const res = await call({ method: "GET", url: `${API}/metrics` });
    expect(res.status).toBe(200);
    const counts = await jobCounts(pool, w.b.tenantId);
    expect(res.body.totalJobs).toBe(counts.active + counts.paused + counts.inactive);
    expect(res.body.totalExecutions).toBe(0);
  },
  // Deployment-wide by design (scheduler:monitor): queue sizes and processes, no
  // tenant's jobs or executions. The sweep for A's marks below holds them to that.
  "GET /api/v1/scheduler/queues": async ({ call }) => {
    expect((await call({ method: "GET", url: `${API}/queues` })).status).toBe(200);
  },
  "GET /api/v1/scheduler/workers": async ({ call }) => {
    expect((await call({ method: "GET", url: `${API}/workers` })).status).toBe(200);
  },

  // The internal API acts for the tenant its caller names: naming B reaches B's data only.
  "POST /internal/jobs/create": async ({ w, call }) => {
    const res = await call({
      method: "POST",
      url: "/internal/jobs/create",
      headers: service,
      payload: {
        ...jobBody({ name: w.otherNamesA[1] }),
        tenantId: w.b.tenantId,
        createdBy: w.b.userId,
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.tenantId).toBe(w.b.tenantId);
  },
  "POST /internal/jobs/batch-create": async ({ w, call }) => {
    const res = await call({
      method: "POST",
      url: "/internal/jobs/batch-create",
      headers: service,
      payload: {
        tenantId: w.b.tenantId,
        createdBy: w.b.userId,
        jobs: [jobBody({ name: `${w.jobA.name}-batch` }), jobBody()],
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.jobs.map((j: { tenantId: string }) => j.tenantId)).toEqual([
      w.b.tenantId,
      w.b.tenantId,
    ]);
  },
  "POST /internal/jobs/:jobId/trigger": internalOnJobOfA("trigger"),
  "GET /internal/jobs/:jobId/status": internalOnJobOfA("status", "GET"),
  "POST /internal/jobs/:jobId/pause": internalOnJobOfA("pause"),
  "POST /internal/jobs/:jobId/resume": internalOnJobOfA("resume"),
};

async function jobCounts(pool: Pool, tenantId: string) {
  const { rows } = await pool.query(
    "SELECT status, count(*)::int AS n FROM scheduled_jobs WHERE tenant_id = $1 GROUP BY status",
    [tenantId],
  );
  const n = (s: string) => rows.find((r: { status: string }) => r.status === s)?.n ?? 0;
  return { active: n("active"), paused: n("paused"), inactive: n("inactive") };
}

/** Everything of A's that B could change, whole rows. */
async function snapshotOfA(pool: Pool, tenantId: string) {
  const read = async (table: string) =>
    (
      await pool.query(
        `SELECT row_to_json(t)::text AS row FROM ${table} t WHERE tenant_id = $1 ORDER BY 1`,
        [tenantId],
      )
    ).rows.map((r: { row: string }) => r.row);
  return {
    jobs: await read("scheduled_jobs"),
    executions: await read("job_executions"),
    audit: await read("audit_events"),
    rollups: await read("execution_rollups"),
  };
}

let world: Promise<World> | undefined;
function worldOf(app: FastifyInstance, pool: Pool): Promise<World> {
  world ??= build(app, pool);
  return world;
}

/** A's job with executions in every state B's filters could match, and B's own job. */
async function build(app: FastifyInstance, pool: Pool): Promise<World> {
  const a = newTenant();
  const b = newTenant();
  const jobA = await createJob(app, a, { tags: ["tenant-a"], maxConcurrent: 5 });
  await app.inject({
    method: "POST",
    url: `${API}/jobs/${jobA.id}/pause`,
    headers: auth(a.token()),
  });
  await app.inject({
    method: "POST",
    url: `${API}/jobs/${jobA.id}/resume`,
    headers: auth(a.token()),
  });
  const ref = { id: jobA.id, tenantId: a.tenantId };
  const executionsA = {
    failed: await insertExecution(pool, ref, "failed", { durationMs: 10, errorType: "TIMEOUT" }),
    running: await insertExecution(pool, ref, "running"),
    completed: await insertExecution(pool, ref, "completed", { durationMs: 5, retryCount: 1 }),
    pending: await insertExecution(pool, ref, "pending"),
    // Three days back: counted by the daily rollups, not row by row.
    old: await insertExecution(pool, ref, "completed", {
      durationMs: 7,
      scheduledAt: new Date(Date.now() - 3 * DAY),
    }),
  };
  await pool.query(
    "UPDATE job_executions SET completed_at = started_at + interval '5 ms' WHERE job_id = $1 AND status IN ('completed', 'failed')",
    [jobA.id],
  );
  const triggered = await app.inject({
    method: "POST",
    url: `${API}/jobs/${jobA.id}/trigger`,
    headers: auth(a.token()),
  });
  expect(triggered.statusCode).toBe(202);
  const { rows } = await pool.query(
    "SELECT count(*)::int AS n FROM execution_rollups WHERE tenant_id = $1",
    [a.tenantId],
  );
  expect(rows[0].n, "A's old execution is in the rollups").toBeGreaterThan(0);
  const others = [await createJob(app, a), await createJob(app, a)];
  const jobB = await createJob(app, b);
  return {
    a,
    b,
    jobA,
    otherNamesA: [others[0]!.name, others[1]!.name],
    executionsA,
    jobB,
    marks: [
      a.tenantId,
      a.userId,
      jobA.id,
      ...others.map((j) => j.id),
      ...Object.values(executionsA),
    ],
  };
}

describe("tenant isolation on every route", () => {
  it("has a case for every route the API serves, and none for a route it does not", async ({
    app,
  }) => {
    await app.ready();
    const served = servedRoutes(app);
    expect(served.length).toBeGreaterThan(25);
    expect([...served].sort()).toEqual(Object.keys(cases).sort());
  });

  it.for(Object.keys(cases))(
    "%s: tenant B sees and changes nothing of tenant A's",
    async (route, { app, database }) => {
      const pool = database.pool as unknown as Pool;
      const w = await worldOf(app, pool);
      const before = await snapshotOfA(pool, w.a.tenantId);
      const answers: { request: string; body: string }[] = [];
      const call = async (c: Call) => {
        const res = await app.inject({
          method: c.method,
          url: c.url,
          headers: c.headers ?? auth(w.b.token(["scheduler:admin"])),
          ...(c.payload === undefined ? {} : { payload: c.payload as object }),
        });
        answers.push({ request: `${c.url} ${JSON.stringify(c.payload ?? null)}`, body: res.body });
        return {
          status: res.statusCode,
          body: res.body ? JSON.parse(res.body) : undefined,
          raw: res.body,
        };
      };
      await cases[route]!({ w, call, pool });
      expect(answers.length, "the case made a call").toBeGreaterThan(0);
      for (const { request, body } of answers) {
        for (const mark of w.marks.filter((m) => !request.includes(m)))
          expect(body, `${route} answers with ${mark}`).not.toContain(mark);
      }
      expect(await snapshotOfA(pool, w.a.tenantId)).toEqual(before);
    },
  );

  it("keeps tenant A's own view whole after B's attempts", async ({ app, database }) => {
    const w = await worldOf(app, database.pool as unknown as Pool);
    const job = await app.inject({ url: `${API}/jobs/${w.jobA.id}`, headers: auth(w.a.token()) });
    expect(job.statusCode).toBe(200);
    expect(job.json()).toMatchObject({ name: w.jobA.name, status: "active" });
    const executions = await app.inject({
      url: `${API}/executions?jobId=${w.jobA.id}`,
      headers: auth(w.a.token()),
    });
    expect(executions.json().data).toHaveLength(6);
    // A random id answers exactly as A's ids do for B: nothing tells them apart.
    const missing = await app.inject({
      url: `${API}/jobs/${randomUUID()}`,
      headers: auth(w.b.token()),
    });
    const foreign = await app.inject({
      url: `${API}/jobs/${w.jobA.id}`,
      headers: auth(w.b.token()),
    });
    const shape = (r: typeof missing) => {
      const { error } = r.json();
      return {
        status: r.statusCode,
        code: error.code,
        message: error.message.replace(/[0-9a-f-]{36}/g, "<id>"),
      };
    };
    expect(shape(foreign)).toEqual(shape(missing));
  });
});
