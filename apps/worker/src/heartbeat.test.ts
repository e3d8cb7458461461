import { createLogger, isWorkerAlive, redisKeys, type WorkerHeartbeat } from "@scheduler/core";
import { test } from "@scheduler/testkit";
import { describe, expect } from "vitest";
import { Heartbeat, liveWorkerIds } from "./heartbeat.js";

const log = createLogger({ name: "heartbeat-test", level: "silent" });

describe("Heartbeat", () => {
  test("writes the worker's heartbeat with a 3-period expiry, indexes it, and removes both on stop", async ({
    testRedis,
  }) => {
    const keys = redisKeys(testRedis.prefix);
    const stats = { active: 2, processed: 7, failed: 1 };
    const heartbeat = new Heartbeat({
      redis: testRedis.redis,
      key: keys.workerHeartbeat("w-1"),
      indexKey: keys.workersIndex,
      identity: {
        id: "w-1",
        host: "h",
        pid: 42,
        concurrency: 50,
        startedAt: "2026-01-01T00:00:00.000Z",
      },
      intervalMs: 2000,
      stats,
      log,
    });
    const before = Date.now();
    await heartbeat.start();
    try {
      const stored = JSON.parse(
        (await testRedis.redis.get(keys.workerHeartbeat("w-1")))!,
      ) as WorkerHeartbeat;
      expect(stored).toMatchObject({
        id: "w-1",
        host: "h",
        pid: 42,
        concurrency: 50,
        active: 2,
        processed: 7,
        failed: 1,
        startedAt: "2026-01-01T00:00:00.000Z",
        heartbeatMs: 2000,
      });
      expect(isWorkerAlive(stored, new Date())).toBe(true);
      const ttl = await testRedis.redis.pttl(keys.workerHeartbeat("w-1"));
      expect(ttl).toBeGreaterThan(5000);
      expect(ttl).toBeLessThanOrEqual(6000);
      expect(Number(await testRedis.redis.zscore(keys.workersIndex, "w-1"))).toBeGreaterThanOrEqual(
        before,
      );
      expect(await liveWorkerIds(testRedis.redis, keys.workersIndex, keys.workerHeartbeat)).toEqual(
        ["w-1"],
      );
    } finally {
      await heartbeat.stop();
    }
    expect(await testRedis.redis.exists(keys.workerHeartbeat("w-1"))).toBe(0);
    expect(await testRedis.redis.zscore(keys.workersIndex, "w-1")).toBeNull();
  });
});
