import { randomUUID } from "node:crypto";
import { ApiConfig, createLogger, loadConfig } from "@scheduler/core";
import { signTestJwt, TEST_CONFIG_ENCRYPTION_KEY, test } from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { buildApp } from "./app.js";

export const TEST_JWT_SECRET = "test-secret-of-at-least-thirty-two-chars!!";

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
