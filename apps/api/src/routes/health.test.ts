import { ApiConfig, createLogger, loadConfig } from "@scheduler/core";
import { createDb, createPool } from "@scheduler/db";
import { TEST_CONFIG_ENCRYPTION_KEY } from "@scheduler/testkit";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { buildApp } from "../app.js";
import { apiTest, TEST_JWT_SECRET } from "../testApp.js";

/** Ports nothing listens on: connecting is refused at once. */
const NO_POSTGRES = "postgres://postgres@127.0.0.1:1/none";
const NO_REDIS = "redis://127.0.0.1:2";

describe("health probes", () => {
  apiTest(
    "answers 50 concurrent /health probes 200, each with its own lock check",
    async ({ app }) => {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => app.inject({ url: "/health" })),
      );
      expect(answers.map((res) => res.statusCode)).toEqual(Array(50).fill(200));
      expect(answers.every((res) => res.json().dependencies.distributedLock === true)).toBe(true);
    },
  );

  apiTest("answers /readyz 200 with every dependency up", async ({ app }) => {
    const res = await app.inject({ url: "/readyz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: "healthy", service: "scheduler-service" });
  });
});

describe("health probes with PostgreSQL and Redis unreachable", async () => {
  const pool = createPool(NO_POSTGRES, { max: 1 });
  const redis = new Redis(NO_REDIS, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  redis.on("error", () => {});
  const config = loadConfig(ApiConfig, {
    DATABASE_URL: NO_POSTGRES,
    REDIS_URL: NO_REDIS,
    JWT_SECRET: TEST_JWT_SECRET,
    CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
  });
  const logger = createLogger({ name: "health-test", level: "silent" });
  const app = await buildApp(config, { db: createDb(pool), redis, logger });
  afterAll(async () => {
    await app.close();
    redis.disconnect();
    await pool.end();
  });

  it("answers /livez 200: the process is up", async () => {
    const res = await app.inject({ url: "/livez" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "alive" });
  });

  it.each(["/readyz", "/health"])("answers %s 503 naming both dependencies down", async (url) => {
    const res = await app.inject({ url });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({
      status: "unhealthy",
      dependencies: { database: false, redis: false, jobQueue: false, distributedLock: false },
    });
  });
});
