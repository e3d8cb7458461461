import { randomUUID } from "node:crypto";
import {
  ApiConfig,
  createLogger,
  createMetrics,
  loadConfig,
  redisKeys,
  type WorkerHeartbeat,
} from "@scheduler/core";
import { test as it, TEST_CONFIG_ENCRYPTION_KEY } from "@scheduler/testkit";
import { Redis } from "ioredis";
import { describe, expect } from "vitest";
import { buildApp } from "../app.js";
import { API, auth, jobBody, newTenant, TEST_JWT_SECRET } from "../testApp.js";

describe("API metrics", () => {
  it("counts requests by route pattern and outcome, never by id, and reads gauges on scrape", async ({
    database,
    testRedis,
  }) => {
    const config = loadConfig(ApiConfig, {
      DATABASE_URL: database.url,
      REDIS_KEY_PREFIX: testRedis.prefix,
      JWT_SECRET: TEST_JWT_SECRET,
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
    });
    const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
    const metrics = createMetrics({ process: "api" });
    const app = await buildApp(config, {
      db: database.db,
      redis,
      logger: createLogger({ name: "t", level: "silent" }),
      metrics,
    });
    try {
      const tenant = newTenant();
      await app.inject({
        method: "POST",
        url: `${API}/jobs`,
        headers: auth(tenant.token()),
        payload: jobBody(),
      });
      const missing = randomUUID();
      await app.inject({ url: `${API}/jobs/${missing}`, headers: auth(tenant.token()) });
      const text = await metrics.registry.metrics();
      expect(text).toMatch(
        /scheduler_operations_total\{operation="POST \/api\/v1\/scheduler\/jobs",status="success",app="api"\} 1/,
      );
      expect(text).toMatch(
        /scheduler_operations_total\{operation="GET \/api\/v1\/scheduler\/jobs\/:id",status="error",app="api"\} 1/,
      );
      expect(text).toMatch(/scheduler_jobs_total\{status="active",app="api"\} 1/);
      expect(text).toMatch(
        /scheduler_queue_size\{queue_name="executions",state="waiting",app="api"\} 0/,
      );
      expect(text).not.toContain(missing);
    } finally {
      await app.close();
      redis.disconnect();
    }
  });

  it("gauges the workers whose heartbeat is current, 0 when none is", async ({
    database,
    testRedis,
  }) => {
    const prefix = `${testRedis.prefix}.alive`;
    const config = loadConfig(ApiConfig, {
      DATABASE_URL: database.url,
      REDIS_KEY_PREFIX: prefix,
      JWT_SECRET: TEST_JWT_SECRET,
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
    });
    const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
    const metrics = createMetrics({ process: "api" });
    const app = await buildApp(config, {
      db: database.db,
      redis,
      logger: createLogger({ name: "t", level: "silent" }),
      metrics,
    });
    const alive = async () =>
      /^scheduler_workers_alive\{app="api"\} (\d+)$/m.exec(await metrics.registry.metrics())?.[1];
    try {
      expect(await alive()).toBe("0");
      const keys = redisKeys(prefix);
      const beat = (id: string, at: Date): WorkerHeartbeat => ({
        id,
        host: "h",
        pid: 1,
        concurrency: 1,
        active: 0,
        processed: 0,
        failed: 0,
        startedAt: at.toISOString(),
        lastHeartbeatAt: at.toISOString(),
        heartbeatMs: 5000,
      });
      const now = new Date();
      const stale = new Date(now.getTime() - 60_000);
      await redis.set(keys.workerHeartbeat("w-live"), JSON.stringify(beat("w-live", now)));
      await redis.zadd(keys.workersIndex, now.getTime(), "w-live");
      await redis.set(keys.workerHeartbeat("w-gone"), JSON.stringify(beat("w-gone", stale)));
      await redis.zadd(keys.workersIndex, stale.getTime(), "w-gone");
      expect(await alive()).toBe("1");
    } finally {
      await app.close();
      redis.disconnect();
    }
  });
});
