import { randomUUID } from "node:crypto";
import { ApiConfig, createLogger, createMetrics, loadConfig } from "@scheduler/core";
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
});
