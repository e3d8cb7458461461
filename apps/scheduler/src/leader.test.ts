import { createLogger, redisKeys } from "@scheduler/core";
import { schedulerLocks } from "@scheduler/db";
import { test as it, waitFor } from "@scheduler/testkit";
import { Redis } from "ioredis";
import { afterEach, describe, expect } from "vitest";
import { LeaderElector, type LeaderOptions } from "./leader.js";

const log = createLogger({ name: "leader-test", level: "silent" });
const started: LeaderElector[] = [];
const clients: Redis[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((l) => l.stop()));
  for (const c of clients.splice(0)) c.disconnect();
});

function elector(
  base: Omit<LeaderOptions, "instanceId" | "redis">,
  instanceId: string,
): { leader: LeaderElector; redis: Redis } {
  const redis = new Redis(process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379", {
    commandTimeout: 500,
    maxRetriesPerRequest: 1,
  });
  clients.push(redis);
  const leader = new LeaderElector({ ...base, redis, instanceId });
  started.push(leader);
  return { leader, redis };
}

describe("LeaderElector", () => {
  it("elects one of two instances and hands over with a new epoch on release", async ({
    database,
    testRedis,
  }) => {
    const keys = redisKeys(`${testRedis.prefix}:a`);
    const base = {
      db: database.db,
      log,
      lockKey: keys.leaderLock,
      epochKey: keys.leaderEpoch,
      ttlMs: 1500,
      renewMs: 200,
    };
    const a = elector(base, "a").leader;
    const b = elector(base, "b").leader;
    a.start();
    b.start();
    const first = await waitFor(() => (a.isLeader() ? a : b.isLeader() ? b : undefined), {
      what: "a leader",
    });
    const second = first === a ? b : a;
    const firstEpoch = first.epoch;
    // Several renewal periods and more than a ttl later, still exactly one leader.
    await new Promise((r) => setTimeout(r, 2000));
    expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
    expect(first.epoch).toBe(firstEpoch);

    await first.stop();
    await waitFor(() => second.isLeader(), { what: "the follower to take over" });
    expect(second.epoch).toBe(firstEpoch + 1);
    const [row] = await database.db.select().from(schedulerLocks);
    expect(row).toMatchObject({ lockKey: keys.leaderLock, epoch: firstEpoch + 1 });
    expect(row!.lockedBy).toBe(first === a ? "b" : "a");
  });

  it("steps down before its lock can expire when Redis stops answering", async ({
    database,
    testRedis,
  }) => {
    const keys = redisKeys(`${testRedis.prefix}:b`);
    const base = {
      db: database.db,
      log,
      lockKey: keys.leaderLock,
      epochKey: keys.leaderEpoch,
      ttlMs: 1500,
      renewMs: 200,
    };
    const { leader, redis } = elector(base, "solo");
    leader.start();
    await waitFor(() => leader.isLeader(), { what: "leadership" });
    redis.disconnect();
    await waitFor(() => !leader.isLeader(), { what: "step-down", timeoutMs: 5000 });
    // The lock it held is still alive in Redis: no second leader could exist yet.
    expect(await testRedis.redis.pttl(keys.leaderLock)).toBeGreaterThan(0);
  });
});
