import { ApiConfig, createLogger, loadConfig } from "@scheduler/core";
import { createDb, createPool } from "@scheduler/db";
import {
  TEST_CONFIG_ENCRYPTION_KEY,
  type TestDatabase,
  type TestRedis,
  test,
} from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import pg from "pg";
import { describe, expect } from "vitest";
import { buildApp } from "../app.js";
import { API, auth, createJob, newTenant, TEST_JWT_SECRET } from "../testApp.js";

/**
 * Real timeouts against PostgreSQL answer the 503 codes of API.md §Errors, with
 * Retry-After: a row lock held elsewhere past lock_timeout (55P03), the same wait cut
 * by statement_timeout (57014), a pool with no free connection, and a server that
 * refuses connections.
 */

/** An API whose database handle is built on `pool`; the pool and Redis end with it. */
async function apiOn(
  pool: pg.Pool,
  database: TestDatabase,
  testRedis: TestRedis,
): Promise<FastifyInstance> {
  const config = loadConfig(ApiConfig, {
    DATABASE_URL: database.url,
    REDIS_URL: testRedis.url,
    REDIS_KEY_PREFIX: testRedis.prefix,
    JWT_SECRET: TEST_JWT_SECRET,
    CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
  });
  const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
  const logger = createLogger({ name: "api-timeouts-test", level: "silent" });
  const app = await buildApp(config, { db: createDb(pool), redis, logger });
  app.addHook("onClose", async () => {
    redis.disconnect();
    await pool.end();
  });
  await app.ready();
  return app;
}

/** Runs `action` while another session holds the job's row lock. */
async function whileRowLocked<T>(
  database: TestDatabase,
  jobId: string,
  action: () => Promise<T>,
): Promise<T> {
  const holder = await database.pool.connect();
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM scheduled_jobs WHERE id = $1 FOR UPDATE", [jobId]);
    return await action();
  } finally {
    await holder.query("ROLLBACK");
    holder.release();
  }
}

const it = test;

describe("dependency timeouts", () => {
  it("answers 503 LOCK_ACQUISITION_FAILED with Retry-After when a lock wait passes lock_timeout", async ({
    database,
    testRedis,
  }) => {
    const app = await apiOn(
      createPool(database.url, { lockTimeoutMs: 200, statementTimeoutMs: 20_000 }),
      database,
      testRedis,
    );
    try {
      const tenant = newTenant();
      const job = await createJob(app, tenant);
      const res = await whileRowLocked(database, job.id, () =>
        app.inject({
          method: "PUT",
          url: `${API}/jobs/${job.id}`,
          headers: auth(tenant.token()),
          payload: { description: "waits for the lock" },
        }),
      );
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error.code).toBe("LOCK_ACQUISITION_FAILED");
      expect(res.headers["retry-after"]).toBe("1");
      const after = await app.inject({
        url: `${API}/jobs/${job.id}`,
        headers: auth(tenant.token()),
      });
      expect(after.json().description).toBeNull();
    } finally {
      await app.close();
    }
  });

  it("answers 503 SERVICE_UNAVAILABLE with Retry-After when a statement passes statement_timeout", async ({
    database,
    testRedis,
  }) => {
    const app = await apiOn(
      createPool(database.url, { statementTimeoutMs: 200 }),
      database,
      testRedis,
    );
    try {
      const tenant = newTenant();
      const job = await createJob(app, tenant);
      const res = await whileRowLocked(database, job.id, () =>
        app.inject({
          method: "POST",
          url: `${API}/jobs/${job.id}/pause`,
          headers: auth(tenant.token()),
        }),
      );
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error.code).toBe("SERVICE_UNAVAILABLE");
      expect(res.headers["retry-after"]).toBe("1");
      const after = await app.inject({
        url: `${API}/jobs/${job.id}`,
        headers: auth(tenant.token()),
      });
      expect(after.json().status).toBe("active");
    } finally {
      await app.close();
    }
  });

  it("answers 503 SERVICE_UNAVAILABLE when no pooled connection frees up in time", async ({
    database,
    testRedis,
  }) => {
    const pool = new pg.Pool({
      connectionString: database.url,
      max: 1,
      connectionTimeoutMillis: 200,
    });
    const app = await apiOn(pool, database, testRedis);
    const held = await pool.connect();
    try {
      const res = await app.inject({ url: `${API}/jobs`, headers: auth(newTenant().token()) });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error.code).toBe("SERVICE_UNAVAILABLE");
      expect(res.headers["retry-after"]).toBe("1");
    } finally {
      held.release();
      await app.close();
    }
  });

  it("answers 503 SERVICE_UNAVAILABLE when PostgreSQL refuses connections", async ({
    database,
    testRedis,
  }) => {
    const url = new URL(database.url);
    url.port = "1";
    const app = await apiOn(new pg.Pool({ connectionString: url.toString() }), database, testRedis);
    try {
      const res = await app.inject({ url: `${API}/jobs`, headers: auth(newTenant().token()) });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.json().error.code).toBe("SERVICE_UNAVAILABLE");
    } finally {
      await app.close();
    }
  });
});
