import { randomUUID } from "node:crypto";
import { ApiConfig, createLogger, loadConfig } from "@scheduler/core";
import { signTestJwt, TEST_CONFIG_ENCRYPTION_KEY, test } from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { buildApp } from "./app.js";

export const TEST_JWT_SECRET = "test-secret-of-at-least-thirty-two-chars!!";
export const TEST_SERVICE_TOKEN = "internal-service-token-for-tests";

export interface Tenant {
  tenantId: string;
  userId: string;
  /** A token with every tenant permission unless `permissions` says otherwise. */
  token(permissions?: string[]): string;
}

export function newTenant(): Tenant {
  const tenantId = randomUUID();
  const userId = randomUUID();
  return {
    tenantId,
    userId,
    token: (permissions = ["jobs:read", "jobs:write", "jobs:execute"]) =>
      signTestJwt({ sub: userId, tenantId, permissions }, TEST_JWT_SECRET),
  };
}

/** testkit's `test` plus an API instance on the file's database and Redis prefix. */
export const apiTest = test.extend<{ $file: { app: FastifyInstance } }>({
  app: [
    async ({ database, testRedis }, use) => {
      const config = loadConfig(ApiConfig, {
        DATABASE_URL: database.url,
        REDIS_URL: testRedis.url,
        REDIS_KEY_PREFIX: testRedis.prefix,
        JWT_SECRET: TEST_JWT_SECRET,
        CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
        INTERNAL_SERVICE_TOKEN: TEST_SERVICE_TOKEN,
        TENANT_MAX_JOBS: "25",
      });
      const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
      const logger = createLogger({ name: "api-test", level: "silent" });
      const app = await buildApp(config, { db: database.db, redis, logger });
      await use(app);
      await app.close();
      redis.disconnect();
    },
    { scope: "file" },
  ],
});

export const API = "/api/v1/scheduler";

/** A minimal valid job definition with a unique name. */
export function jobBody(overrides: Record<string, unknown> = {}) {
  return {
    name: `job-${randomUUID()}`,
    cronExpression: "0 */5 * * * *",
    jobType: "http",
    config: { url: "https://example.com/hook", method: "POST" },
    ...overrides,
  };
}

export const auth = (token: string) => ({ authorization: `Bearer ${token}` });

/** Creates a job through the API and returns its JSON. */
export async function createJob(
  app: FastifyInstance,
  tenant: Tenant,
  overrides: Record<string, unknown> = {},
) {
  const res = await app.inject({
    method: "POST",
    url: `${API}/jobs`,
    headers: auth(tenant.token()),
    payload: jobBody(overrides),
  });
  if (res.statusCode !== 201) throw new Error(`create failed: ${res.statusCode} ${res.body}`);
  return res.json() as {
    id: string;
    name: string;
    status: string;
    nextExecutionAt: string | null;
    [k: string]: unknown;
  };
}

/** Default slots of insertExecution: one millisecond apart, so two calls never share a slot. */
let lastDefaultSlot = 0;

/** Inserts an execution of a job directly, in any status, as the scheduler or a worker would leave it. */
export async function insertExecution(
  pool: { query(sql: string, params: unknown[]): Promise<{ rows: { id: string }[] }> },
  job: { id: string; tenantId: string },
  status: string,
  extra: { durationMs?: number; errorType?: string; retryCount?: number; scheduledAt?: Date } = {},
): Promise<string> {
  lastDefaultSlot = Math.max(Date.now(), lastDefaultSlot + 1);
  const scheduledAt = extra.scheduledAt ?? new Date(lastDefaultSlot);
  const { rows } = await pool.query(
    `INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, status, scheduled_at, started_at, duration_ms, error_type, retry_count)
     VALUES ($1, $2, $3, 'scheduled', $4::varchar, $5, CASE WHEN $4::varchar IN ('pending', 'skipped') THEN NULL ELSE $5::timestamptz END, $6, $7, $8) RETURNING id`,
    [
      job.id,
      job.tenantId,
      `${job.id}:${scheduledAt.getTime()}:${randomUUID().slice(0, 8)}`,
      status,
      scheduledAt,
      extra.durationMs ?? null,
      extra.errorType ?? null,
      extra.retryCount ?? 0,
    ],
  );
  return rows[0]!.id;
}
