import { randomUUID } from "node:crypto";
import { signTestJwt } from "@scheduler/testkit";
import { describe, expect } from "vitest";
import { apiTest as it, newTenant, TEST_JWT_SECRET } from "../testApp.js";

const JOBS = "/api/v1/scheduler/jobs";

async function countJobs(pool: { query(sql: string): Promise<{ rows: { n: number }[] }> }) {
  return (await pool.query("SELECT count(*)::int AS n FROM scheduled_jobs")).rows[0]!.n;
}

function jobBody(overrides: Record<string, unknown> = {}) {
  return {
    name: `job-${randomUUID()}`,
    cronExpression: "0 */5 * * * *",
    jobType: "http",
    config: { url: "https://example.com/hook", method: "POST" },
    ...overrides,
  };
}

const tenant = newTenant();
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const otherSecret = "another-secret-of-at-least-thirty-two-chars";
const claims = { sub: tenant.userId, tenantId: tenant.tenantId, permissions: ["jobs:write"] };

describe("POST /jobs", () => {
  it("stores a job and answers 201 with its first fire time", async ({ app }) => {
    const tenant = newTenant();
    const before = Date.now();
    const res = await app.inject({
      method: "POST",
      url: JOBS,
      headers: { authorization: `Bearer ${tenant.token()}` },
      payload: jobBody({ timezone: "Asia/Kolkata", tags: ["billing"] }),
    });
    expect(res.statusCode).toBe(201);
    const job = res.json();
    expect(job).toMatchObject({
      tenantId: tenant.tenantId,
      createdBy: tenant.userId,
      status: "active",
      timezone: "Asia/Kolkata",
      timeout: 300,
      maxConcurrent: 1,
      priority: 0,
      misfirePolicy: "fire_once",
      executionCount: 0,
      tags: ["billing"],
      lastExecutionAt: null,
    });
    const next = Date.parse(job.nextExecutionAt);
    expect(next).toBeGreaterThan(before);
    expect(next % (5 * 60_000)).toBe(0);
    expect(next - before).toBeLessThanOrEqual(5 * 60_000);
  });

  it("answers 409 JOB_ALREADY_EXISTS for a second job of the same name", async ({ app }) => {
    const tenant = newTenant();
    const headers = { authorization: `Bearer ${tenant.token()}` };
    const body = jobBody();
    expect(
      (await app.inject({ method: "POST", url: JOBS, headers, payload: body })).statusCode,
    ).toBe(201);
    const res = await app.inject({ method: "POST", url: JOBS, headers, payload: body });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe("JOB_ALREADY_EXISTS");
  });

  it.for([
    [
      "a cron that does not parse",
      bearer(tenant.token()),
      jobBody({ cronExpression: "every day" }),
      400,
      "INVALID_CRON_EXPRESSION",
    ],
    [
      "a cron that never fires",
      bearer(tenant.token()),
      jobBody({ cronExpression: "0 0 0 30 2 *" }),
      400,
      "INVALID_CRON_EXPRESSION",
    ],
    [
      "a zone that is not IANA",
      bearer(tenant.token()),
      jobBody({ timezone: "utc+8" }),
      400,
      "INVALID_TIMEZONE",
    ],
    [
      "a missing name",
      bearer(tenant.token()),
      { ...jobBody(), name: undefined },
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a missing config",
      bearer(tenant.token()),
      { ...jobBody(), config: undefined },
      400,
      "VALIDATION_ERROR",
    ],
    [
      "an unknown field",
      bearer(tenant.token()),
      jobBody({ colour: "red" }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "an unknown jobType",
      bearer(tenant.token()),
      jobBody({ jobType: "ftp" }),
      400,
      "VALIDATION_ERROR",
    ],
    ["a timeout of 0", bearer(tenant.token()), jobBody({ timeout: 0 }), 400, "VALIDATION_ERROR"],
    [
      "an endDate before startDate",
      bearer(tenant.token()),
      jobBody({ startDate: "2030-01-02T00:00:00Z", endDate: "2030-01-01T00:00:00Z" }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "an ftp url",
      bearer(tenant.token()),
      jobBody({ config: { url: "ftp://example.com/x", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "an http config missing its url",
      bearer(tenant.token()),
      jobBody({ config: { method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a command job, not enabled",
      bearer(tenant.token()),
      jobBody({ jobType: "command", config: { command: "echo" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    ["no token", {}, jobBody(), 401, "UNAUTHORIZED"],
    [
      "a token signed with another secret",
      bearer(signTestJwt(claims, otherSecret)),
      jobBody(),
      401,
      "UNAUTHORIZED",
    ],
    [
      "an unsigned alg none token",
      bearer(signTestJwt(claims, "", { alg: "none" })),
      jobBody(),
      401,
      "UNAUTHORIZED",
    ],
    [
      "an expired token",
      bearer(signTestJwt(claims, TEST_JWT_SECRET, { expiresInSeconds: -60 })),
      jobBody(),
      401,
      "UNAUTHORIZED",
    ],
    [
      "a token without tenantId",
      bearer(signTestJwt({ ...claims, tenantId: undefined }, TEST_JWT_SECRET)),
      jobBody(),
      401,
      "UNAUTHORIZED",
    ],
    [
      "a token without jobs:write",
      bearer(tenant.token(["jobs:read"])),
      jobBody(),
      403,
      "FORBIDDEN",
    ],
    [
      "a 4-field cron",
      bearer(tenant.token()),
      jobBody({ cronExpression: "* * * *" }),
      400,
      "INVALID_CRON_EXPRESSION",
    ],
    [
      "a 7-field cron",
      bearer(tenant.token()),
      jobBody({ cronExpression: "0 0 0 1 1 * 2030" }),
      400,
      "INVALID_CRON_EXPRESSION",
    ],
    [
      "an April 31st",
      bearer(tenant.token()),
      jobBody({ cronExpression: "0 0 0 31 4 *" }),
      400,
      "INVALID_CRON_EXPRESSION",
    ],
    [
      "a W day",
      bearer(tenant.token()),
      jobBody({ cronExpression: "0 0 0 15W * *" }),
      400,
      "INVALID_CRON_EXPRESSION",
    ],
    [
      "an empty cron",
      bearer(tenant.token()),
      jobBody({ cronExpression: "" }),
      400,
      "INVALID_CRON_EXPRESSION",
    ],
    [
      "the zone 'local'",
      bearer(tenant.token()),
      jobBody({ timezone: "local" }),
      400,
      "INVALID_TIMEZONE",
    ],
    [
      "a name of 201 characters",
      bearer(tenant.token()),
      jobBody({ name: "n".repeat(201) }),
      400,
      "VALIDATION_ERROR",
    ],
    ["a numeric name", bearer(tenant.token()), jobBody({ name: 42 }), 400, "VALIDATION_ERROR"],
    [
      "a description over 2000 characters",
      bearer(tenant.token()),
      jobBody({ description: "d".repeat(2001) }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "21 tags",
      bearer(tenant.token()),
      jobBody({ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a tag of 51 characters",
      bearer(tenant.token()),
      jobBody({ tags: ["t".repeat(51)] }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a priority of 101",
      bearer(tenant.token()),
      jobBody({ priority: 101 }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a maxConcurrent of 0",
      bearer(tenant.token()),
      jobBody({ maxConcurrent: 0 }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a timeout over a day",
      bearer(tenant.token()),
      jobBody({ timeout: 86_401 }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a timeout given as a string",
      bearer(tenant.token()),
      jobBody({ timeout: "30" }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "maxExecutions of 0",
      bearer(tenant.token()),
      jobBody({ maxExecutions: 0 }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "21 retries",
      bearer(tenant.token()),
      jobBody({ retryConfig: { maxRetries: 21, retryDelayMs: 10, exponentialBackoff: false } }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "an unknown misfirePolicy",
      bearer(tenant.token()),
      jobBody({ misfirePolicy: "sometimes" }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "a startDate that is not an instant",
      bearer(tenant.token()),
      jobBody({ startDate: "next tuesday" }),
      400,
      "VALIDATION_ERROR",
    ],
    [
      "the method TRACE",
      bearer(tenant.token()),
      jobBody({ config: { url: "https://example.com", method: "TRACE" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a javascript: url",
      bearer(tenant.token()),
      jobBody({ config: { url: "javascript:alert(1)", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a loopback target",
      bearer(tenant.token()),
      jobBody({ config: { url: "http://127.0.0.1:8080/", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a decimal-spelled loopback target",
      bearer(tenant.token()),
      jobBody({ config: { url: "http://2130706433/", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "the metadata address",
      bearer(tenant.token()),
      jobBody({ config: { url: "http://169.254.169.254/latest/meta-data", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a private network target",
      bearer(tenant.token()),
      jobBody({ config: { url: "http://10.1.2.3/", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "localhost",
      bearer(tenant.token()),
      jobBody({ config: { url: "http://localhost:3009/", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "an IPv4-mapped IPv6 loopback",
      bearer(tenant.token()),
      jobBody({ config: { url: "http://[::ffff:127.0.0.1]/", method: "GET" } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a command with a path",
      bearer(tenant.token()),
      jobBody({ jobType: "command", config: { command: "/bin/rm", args: ["-rf", "/"] } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a function outside the registry",
      bearer(tenant.token()),
      jobBody({
        jobType: "function",
        config: { modulePath: "../../etc/passwd", functionName: "x" },
      }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a PATH override in a command environment",
      bearer(tenant.token()),
      jobBody({ jobType: "command", config: { command: "echo", environment: { PATH: "/tmp" } } }),
      400,
      "INVALID_JOB_CONFIG",
    ],
    [
      "a token with another algorithm",
      bearer(signTestJwt(claims, TEST_JWT_SECRET, { alg: "HS512" })),
      jobBody(),
      401,
      "UNAUTHORIZED",
    ],
    [
      "an unsigned token spelled NoNe",
      bearer(signTestJwt(claims, "", { alg: "NoNe" })),
      jobBody(),
      401,
      "UNAUTHORIZED",
    ],
    [
      "a token whose sub is not a uuid",
      bearer(signTestJwt({ ...claims, sub: "admin" }, TEST_JWT_SECRET)),
      jobBody(),
      401,
      "UNAUTHORIZED",
    ],
    ["a malformed bearer token", bearer("not.a.jwt"), jobBody(), 401, "UNAUTHORIZED"],
  ] as const)(
    "refuses %s and stores nothing",
    async ([, headers, payload, status, code], { app, database }) => {
      const before = await countJobs(database.pool);
      const res = await app.inject({ method: "POST", url: JOBS, headers, payload });
      expect(res.statusCode).toBe(status);
      const body = res.json();
      expect(body.error.code).toBe(code);
      expect(typeof body.error.message).toBe("string");
      expect(body.path).toBe(JOBS);
      expect(Number.isNaN(Date.parse(body.timestamp))).toBe(false);
      const after = await countJobs(database.pool);
      expect(after).toBe(before);
    },
  );

  it("answers 415 for a body that is not JSON and 413 for one over 1 MiB", async ({ app }) => {
    const headers = { authorization: `Bearer ${tenant.token()}` };
    const text = await app.inject({
      method: "POST",
      url: JOBS,
      headers: { ...headers, "content-type": "text/plain" },
      payload: "name=x",
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    const huge = await app.inject({
      method: "POST",
      url: JOBS,
      headers,
      payload: jobBody({ description: "x".repeat(1024 * 1024) }),
    });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error.code).toBe("PAYLOAD_TOO_LARGE");
  });
});

describe("GET /jobs and /jobs/{id}", () => {
  it("answers another tenant's job with 404, as a missing one", async ({ app }) => {
    const owner = newTenant();
    const other = newTenant();
    const created = await app.inject({
      method: "POST",
      url: JOBS,
      headers: { authorization: `Bearer ${owner.token()}` },
      payload: jobBody(),
    });
    const id = created.json().id;
    const mine = await app.inject({
      url: `${JOBS}/${id}`,
      headers: { authorization: `Bearer ${owner.token()}` },
    });
    expect(mine.statusCode).toBe(200);
    expect(mine.json().id).toBe(id);
    for (const target of [id, randomUUID()]) {
      const res = await app.inject({
        url: `${JOBS}/${target}`,
        headers: { authorization: `Bearer ${other.token()}` },
      });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe("JOB_NOT_FOUND");
    }
  });

  it("answers a malformed id with 400 VALIDATION_ERROR", async ({ app }) => {
    const res = await app.inject({
      url: `${JOBS}/not-a-uuid`,
      headers: { authorization: `Bearer ${tenant.token()}` },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe("VALIDATION_ERROR");
  });

  it("lists the tenant's jobs newest first, page by page, with filters", async ({ app }) => {
    const owner = newTenant();
    const headers = { authorization: `Bearer ${owner.token()}` };
    const names: string[] = [];
    for (let i = 0; i < 5; i++) {
      const name = `list-${i}`;
      names.push(name);
      const tags = i % 2 === 0 ? ["even"] : ["odd"];
      await app.inject({ method: "POST", url: JOBS, headers, payload: jobBody({ name, tags }) });
    }
    await app.inject({
      method: "POST",
      url: JOBS,
      headers: { authorization: `Bearer ${newTenant().token()}` },
      payload: jobBody(),
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : "?limit=2";
      const page = await app.inject({ url: `${JOBS}${query}`, headers });
      expect(page.statusCode).toBe(200);
      const body = page.json() as { data: { name: string }[]; nextCursor: string | null };
      expect(body.data.length).toBeLessThanOrEqual(2);
      seen.push(...body.data.map((j) => j.name));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...names].reverse());

    const even = await app.inject({ url: `${JOBS}?tag=even`, headers });
    expect(even.json().data.map((j: { name: string }) => j.name)).toEqual([
      "list-4",
      "list-2",
      "list-0",
    ]);
    const byName = await app.inject({ url: `${JOBS}?name=T-3`, headers });
    expect(byName.json().data.map((j: { name: string }) => j.name)).toEqual(["list-3"]);
    const bad = await app.inject({ url: `${JOBS}?limit=500`, headers });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("VALIDATION_ERROR");
    const badCursor = await app.inject({ url: `${JOBS}?cursor=nonsense`, headers });
    expect(badCursor.statusCode).toBe(400);
  });
});

describe("errors and health", () => {
  it("answers an unknown route with 404 NOT_FOUND in the error shape", async ({ app }) => {
    const res = await app.inject({ url: "/api/v1/scheduler/nothing-here" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({
      error: { code: "NOT_FOUND" },
      path: "/api/v1/scheduler/nothing-here",
    });
  });

  it("reports healthy with every dependency up", async ({ app }) => {
    const res = await app.inject({ url: "/health" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      status: "healthy",
      service: "scheduler-service",
      port: 3009,
      dependencies: { database: true, redis: true, jobQueue: true, distributedLock: true },
    });
  });
});
