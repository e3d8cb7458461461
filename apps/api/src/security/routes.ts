import { generateKeyPairSync } from "node:crypto";
import { ApiConfig, createLogger, loadConfig } from "@scheduler/core";
import { TEST_CONFIG_ENCRYPTION_KEY, type TestDatabase, type TestRedis } from "@scheduler/testkit";
import type { FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { buildApp } from "../app.js";

/**
 * The routes an app serves, `METHOD /path` with fastify's `:param` syntax, read from its
 * router: HEAD (fastify's twin of each GET) and the /docs pages left out.
 */
export function servedRoutes(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const match = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? "") + match[2]!;
    stack.push(path);
    for (const method of (match[3] ?? "").split(", ")) {
      if (method && method !== "HEAD" && method !== "-" && !path.startsWith("/docs"))
        routes.push(`${method} ${path}`);
    }
  }
  return routes;
}

/** An API on a test's database and Redis prefix with the given settings; close it after. */
export async function buildTestApi(
  database: TestDatabase,
  testRedis: TestRedis,
  env: Record<string, string | undefined>,
): Promise<FastifyInstance> {
  const config = loadConfig(ApiConfig, {
    DATABASE_URL: database.url,
    REDIS_URL: testRedis.url,
    REDIS_KEY_PREFIX: testRedis.prefix,
    CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
    ...env,
  });
  const redis = new Redis(testRedis.url, { maxRetriesPerRequest: 1 });
  const logger = createLogger({ name: "api-security-test", level: "silent" });
  const app = await buildApp(config, { db: database.db, redis, logger });
  app.addHook("onClose", () => redis.disconnect());
  return app;
}

/** A fresh RSA key pair in PEM. */
export function rsaKeys(): { publicKey: string; privateKey: string } {
  return generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
}
