import { test as base } from "vitest";
import { createTestDatabase, type TestDatabase } from "./database.js";
import { createTestRedis, type TestRedis } from "./redis.js";

/**
 * `test` with a database and a Redis prefix of the file's own: created on first use
 * in a file, shared by its tests, removed after the file.
 */
export const test = base.extend<{ $file: { database: TestDatabase; testRedis: TestRedis } }>({
  database: [
    // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take a destructured context
    async ({}, use) => {
      const database = await createTestDatabase();
      await use(database);
      await database.drop();
    },
    { scope: "file" },
  ],
  testRedis: [
    // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures take a destructured context
    async ({}, use) => {
      const redis = createTestRedis();
      await use(redis);
      await redis.cleanup();
    },
    { scope: "file" },
  ],
});
