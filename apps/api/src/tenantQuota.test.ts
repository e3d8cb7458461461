import { randomUUID } from "node:crypto";
import type { TestDatabase } from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { describe, expect } from "vitest";
import {
  API,
  auth,
  apiTest as it,
  jobBody,
  newTenant,
  TEST_SERVICE_TOKEN,
  type Tenant,
} from "./testApp.js";

/** The test app's TENANT_MAX_JOBS. */
const QUOTA = 25;

/** A create's answer: how many jobs it stored, or that the quota refused it. */
type Outcome = { created: number } | "quota";

async function createOne(app: FastifyInstance, tenant: Tenant): Promise<Outcome> {
  const res = await app.inject({
    method: "POST",
    url: `${API}/jobs`,
    headers: auth(tenant.token()),
    payload: jobBody(),
  });
  return outcome(res.statusCode, res.body, 1);
}

async function createBatch(app: FastifyInstance, tenant: Tenant, size: number): Promise<Outcome> {
  const res = await app.inject({
    method: "POST",
    url: "/internal/jobs/batch-create",
    headers: { "x-service-token": TEST_SERVICE_TOKEN },
    payload: {
      tenantId: tenant.tenantId,
      createdBy: tenant.userId,
      jobs: Array.from({ length: size }, () => jobBody()),
    },
  });
  return outcome(res.statusCode, res.body, size);
}

/** 201 or QUOTA_EXCEEDED; anything else (a deadlock, a timeout, a 500) fails the test. */
function outcome(status: number, body: string, size: number): Outcome {
  if (status === 201) return { created: size };
  if (status === 429 && JSON.parse(body).error.code === "QUOTA_EXCEEDED") return "quota";
  throw new Error(`unexpected answer ${status}: ${body}`);
}

const createdBy = (outcomes: Outcome[]) =>
  outcomes.reduce((sum, o) => sum + (o === "quota" ? 0 : o.created), 0);

/** The tenant's jobs counted row by row, and its counter row. */
async function counts(database: TestDatabase, tenantId: string) {
  const { rows } = await database.pool.query(
    `SELECT (SELECT count(*)::int FROM scheduled_jobs WHERE tenant_id = $1) AS stored,
            (SELECT job_count FROM tenant_job_counts WHERE tenant_id = $1) AS counted`,
    [tenantId],
  );
  return rows[0] as { stored: number; counted: number | null };
}

async function fill(app: FastifyInstance, tenant: Tenant, n: number): Promise<string[]> {
  const res = await app.inject({
    method: "POST",
    url: "/internal/jobs/batch-create",
    headers: { "x-service-token": TEST_SERVICE_TOKEN },
    payload: {
      tenantId: tenant.tenantId,
      createdBy: tenant.userId,
      jobs: Array.from({ length: n }, () => jobBody()),
    },
  });
  expect(res.statusCode).toBe(201);
  return (res.json().jobs as { id: string }[]).map((job) => job.id);
}

describe("tenant job quota under concurrent writes", () => {
  it("lets exactly the free slots' worth of racing creates and batches through", async ({
    app,
    database,
  }) => {
    const tenant = newTenant();
    await fill(app, tenant, 15);
    // 10 free slots; 30 single creates and 6 batches of 2 (42 jobs) sent at once, over
    // the pool's 10 connections.
    const outcomes = await Promise.all([
      ...Array.from({ length: 30 }, () => createOne(app, tenant)),
      ...Array.from({ length: 6 }, () => createBatch(app, tenant, 2)),
    ]);
    expect(createdBy(outcomes)).toBe(QUOTA - 15);
    expect(outcomes.filter((o) => o === "quota").length).toBeGreaterThan(0);
    expect(await counts(database, tenant.tenantId)).toEqual({ stored: QUOTA, counted: QUOTA });
  });

  it("keeps the count exact while deletes free slots that racing creates take", async ({
    app,
    database,
  }) => {
    const tenant = newTenant();
    const ids = await fill(app, tenant, QUOTA);
    const deleted = ids.slice(0, 8);
    const [deletes, outcomes] = await Promise.all([
      Promise.all(
        deleted.map((id) =>
          app.inject({ method: "DELETE", url: `${API}/jobs/${id}`, headers: auth(tenant.token()) }),
        ),
      ),
      Promise.all([
        ...Array.from({ length: 30 }, () => createOne(app, tenant)),
        ...Array.from({ length: 4 }, () => createBatch(app, tenant, 3)),
      ]),
    ]);
    expect(deletes.map((res) => res.statusCode)).toEqual(deleted.map(() => 204));
    const { stored, counted } = await counts(database, tenant.tenantId);
    expect(counted).toBe(stored);
    expect(stored).toBe(QUOTA - deleted.length + createdBy(outcomes));
    expect(stored).toBeLessThanOrEqual(QUOTA);

    // Once the deletes have committed, the freed slots are there to take, and no more.
    const free = QUOTA - stored;
    const after = await Promise.all(Array.from({ length: free + 5 }, () => createOne(app, tenant)));
    expect(createdBy(after)).toBe(free);
    expect(await counts(database, tenant.tenantId)).toEqual({ stored: QUOTA, counted: QUOTA });
  });

  it("counts another tenant's creates apart", async ({ app, database }) => {
    const [a, b] = [newTenant(), newTenant()];
    await fill(app, a, QUOTA);
    const outcomes = await Promise.all([
      createOne(app, a),
      ...Array.from({ length: 5 }, () => createOne(app, b)),
    ]);
    expect(outcomes).toEqual(["quota", ...Array.from({ length: 5 }, () => ({ created: 1 }))]);
    expect(await counts(database, b.tenantId)).toEqual({ stored: 5, counted: 5 });
    expect(await counts(database, randomUUID())).toEqual({ stored: 0, counted: null });
  });
});
