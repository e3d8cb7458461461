import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export interface TestRedis {
  url: string;
  /** Key prefix of this test file: every key it makes starts with `<prefix>:`. */
  prefix: string;
  redis: Redis;
  cleanup(): Promise<void>;
}

/** A random key prefix on the shared Redis; `cleanup()` deletes every key under it. */
export function createTestRedis(): TestRedis {
  const prefix = `t${randomBytes(5).toString("hex")}`;
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  return {
    url: TEST_REDIS_URL,
    prefix,
    redis,
    async cleanup() {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 500);
        if (keys.length > 0) await redis.unlink(...keys);
        cursor = next;
      } while (cursor !== "0");
      redis.disconnect();
    },
  };
}
