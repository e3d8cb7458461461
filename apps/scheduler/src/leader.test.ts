import { createServer, type Socket } from "node:net";
import { createLogger, parseFailpoints, redisKeys } from "@scheduler/core";
import { recordLeadership, schedulerLocks } from "@scheduler/db";
import { test as it, waitFor } from "@scheduler/testkit";
import { eq } from "drizzle-orm";
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

  it("reports a lock timeout when a renewal starts after its leadership lapsed", async ({
    database,
    testRedis,
  }) => {
    const keys = redisKeys(`${testRedis.prefix}:late`);
    let timeouts = 0;
    const { leader } = elector(
      {
        db: database.db,
        log,
        lockKey: keys.leaderLock,
        epochKey: keys.leaderEpoch,
        ttlMs: 1000,
        renewMs: 200,
        // A stall longer than the lock's lifetime before each renewal.
        failpoints: parseFailpoints("leader.before_renew:pause:1200"),
        onLockTimeout: () => {
          timeouts += 1;
        },
      },
      "stalled",
    );
    leader.start();
    await waitFor(() => leader.isLeader(), { what: "leadership" });
    expect(timeouts).toBe(0);
    await waitFor(() => timeouts > 0, { what: "a late renewal", timeoutMs: 5000 });
  });

  it("reports a lock timeout when a lock command gets no answer in time", async ({
    database,
    testRedis,
  }) => {
    // A server that accepts connections and never answers: a frozen Redis.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as { port: number }).port;
    const redis = new Redis({
      port,
      host: "127.0.0.1",
      commandTimeout: 200,
      enableReadyCheck: false,
    });
    redis.on("error", () => {});
    clients.push(redis);
    let timeouts = 0;
    const keys = redisKeys(`${testRedis.prefix}:frozen`);
    const leader = new LeaderElector({
      db: database.db,
      log,
      redis,
      instanceId: "frozen",
      lockKey: keys.leaderLock,
      epochKey: keys.leaderEpoch,
      ttlMs: 1000,
      renewMs: 100,
      onLockTimeout: () => {
        timeouts += 1;
      },
    });
    started.push(leader);
    try {
      leader.start();
      await waitFor(() => timeouts > 0, { what: "a timed-out lock command", timeoutMs: 5000 });
      expect(leader.isLeader()).toBe(false);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it("takes over at once a lock its own abandoned attempt left, and no one else's", async ({
    database,
    testRedis,
  }) => {
    // Redis ran an acquire the instance had given up on (timed out while Redis was
    // paused) once it answered again: the lock names the instance, which does not lead.
    const keys = redisKeys(`${testRedis.prefix}:own`);
    await testRedis.redis.set(keys.leaderLock, "scheduler-a|9", "PX", 60_000);
    await testRedis.redis.set(keys.leaderEpoch, "9");
    const base = { db: database.db, log, epochKey: keys.leaderEpoch, ttlMs: 1500, renewMs: 200 };
    const own = elector({ ...base, lockKey: keys.leaderLock }, "scheduler-a").leader;
    own.start();
    await waitFor(() => own.isLeader(), { what: "leadership long before the lock's ttl" });
    expect(own.epoch).toBe(10);
    expect(await testRedis.redis.get(keys.leaderLock)).toBe("scheduler-a|10");

    // Another instance's lock, even one whose id extends this one's, is left alone.
    const other = redisKeys(`${testRedis.prefix}:other`);
    await testRedis.redis.set(other.leaderLock, "scheduler-ab|3", "PX", 60_000);
    const b = elector({ ...base, lockKey: other.leaderLock }, "scheduler-a").leader;
    b.start();
    await new Promise((r) => setTimeout(r, 1000));
    expect(b.isLeader()).toBe(false);
    expect(await testRedis.redis.get(other.leaderLock)).toBe("scheduler-ab|3");
  });

  it("leads only once its epoch is recorded in scheduler_locks", async ({
    database,
    testRedis,
  }) => {
    const keys = redisKeys(`${testRedis.prefix}:c`);
    await recordLeadership(database.db, {
      lockKey: keys.leaderLock,
      lockedBy: "old",
      epoch: 4,
      expiresAt: new Date(),
    });
    // A claim transaction of the old leader holds the record, as fenceClaim does.
    const claim = await database.pool.connect();
    try {
      await claim.query("BEGIN");
      await claim.query("SELECT epoch FROM scheduler_locks WHERE lock_key = $1 FOR KEY SHARE", [
        keys.leaderLock,
      ]);
      const { leader } = elector(
        {
          db: database.db,
          log,
          lockKey: keys.leaderLock,
          epochKey: keys.leaderEpoch,
          ttlMs: 3000,
          renewMs: 200,
        },
        "new",
      );
      leader.start();
      await waitFor(async () => (await testRedis.redis.get(keys.leaderLock)) === "new|5", {
        what: "the Redis lock",
      });
      expect(leader.isLeader()).toBe(false);
      await claim.query("COMMIT");
      await waitFor(() => leader.isLeader(), { what: "leadership once recorded" });
      expect(leader.epoch).toBe(5);
      const [row] = await database.db
        .select()
        .from(schedulerLocks)
        .where(eq(schedulerLocks.lockKey, keys.leaderLock));
      expect(row).toMatchObject({ lockedBy: "new", epoch: 5 });
    } finally {
      claim.release();
    }
  });

  it("takes an epoch above the recorded one after Redis lost its counter", async ({
    database,
    testRedis,
  }) => {
    const keys = redisKeys(`${testRedis.prefix}:d`);
    await recordLeadership(database.db, {
      lockKey: keys.leaderLock,
      lockedBy: "before-flush",
      epoch: 41,
      expiresAt: new Date(),
    });
    const { leader } = elector(
      {
        db: database.db,
        log,
        lockKey: keys.leaderLock,
        epochKey: keys.leaderEpoch,
        ttlMs: 1500,
        renewMs: 200,
      },
      "after-flush",
    );
    leader.start();
    await waitFor(() => leader.isLeader(), { what: "leadership" });
    expect(leader.epoch).toBe(42);
    expect(await testRedis.redis.get(keys.leaderEpoch)).toBe("42");
  });

  it("steps down when a newer leader is recorded", async ({ database, testRedis }) => {
    const keys = redisKeys(`${testRedis.prefix}:e`);
    const { leader } = elector(
      {
        db: database.db,
        log,
        lockKey: keys.leaderLock,
        epochKey: keys.leaderEpoch,
        ttlMs: 1500,
        renewMs: 200,
      },
      "soon-stale",
    );
    leader.start();
    await waitFor(() => leader.isLeader(), { what: "leadership" });
    await recordLeadership(database.db, {
      lockKey: keys.leaderLock,
      lockedBy: "newer",
      epoch: leader.epoch + 1,
      expiresAt: new Date(Date.now() + 10_000),
    });
    await waitFor(() => !leader.isLeader(), { what: "step-down" });
    expect(await testRedis.redis.exists(keys.leaderLock)).toBe(0);
  });

  it("renews its record while claim transactions hold the leadership row", async ({
    database,
    testRedis,
  }) => {
    const keys = redisKeys(`${testRedis.prefix}:f`);
    const { leader } = elector(
      {
        db: database.db,
        log,
        lockKey: keys.leaderLock,
        epochKey: keys.leaderEpoch,
        ttlMs: 1500,
        renewMs: 100,
      },
      "busy",
    );
    leader.start();
    await waitFor(() => leader.isLeader(), { what: "leadership" });
    const expiresAt = async () => {
      const [row] = await database.db
        .select({ expiresAt: schedulerLocks.expiresAt })
        .from(schedulerLocks)
        .where(eq(schedulerLocks.lockKey, keys.leaderLock));
      return row!.expiresAt.getTime();
    };
    const claim = await database.pool.connect();
    try {
      await claim.query("BEGIN");
      await claim.query("SELECT epoch FROM scheduler_locks WHERE lock_key = $1 FOR KEY SHARE", [
        keys.leaderLock,
      ]);
      const before = await expiresAt();
      await waitFor(async () => (await expiresAt()) > before, { what: "a renewal written" });
    } finally {
      await claim.query("COMMIT");
      claim.release();
    }
  });
});
