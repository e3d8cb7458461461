import { createLogger, redisKeys } from "@scheduler/core";
import { test } from "@scheduler/testkit";
import type { Redis } from "ioredis";
import { describe, expect } from "vitest";
import { FairShare, type FairShareOptions } from "./fairShare.js";

const log = createLogger({ name: "fair-share-test", level: "silent" });

let tests = 0;
/** The file's Redis under a prefix of this test's own: the tests share one cluster else. */
function ownRedis(testRedis: { redis: Redis; prefix: string }) {
  tests += 1;
  return { redis: testRedis.redis, prefix: `${testRedis.prefix}:${tests}` };
}

/** A worker's FairShare over `slots`, its promotions collected in `promoted`. */
async function fairShareOf(
  testRedis: { redis: Redis; prefix: string },
  options: Partial<FairShareOptions> & { slots: number },
) {
  const promoted: string[] = [];
  const fair = new FairShare({
    redis: testRedis.redis,
    keys: redisKeys(testRedis.prefix),
    workerId: "w-1",
    leaseMs: 60_000,
    weights: "",
    maxPerTenant: 0,
    maxWaiting: 0,
    promote: async (id) => {
      promoted.push(id);
    },
    log,
    ...options,
  });
  await fair.start();
  return { fair, promoted };
}

/** Admits `count` executions of `tenant`, numbered from `from`; the decisions in order. */
async function admitMany(fair: FairShare, tenant: string, count: number, from = 0) {
  const decisions: boolean[] = [];
  for (let i = from; i < from + count; i++) {
    decisions.push(await fair.admit(tenant, `${tenant}-e${i}`, `${tenant}-q${i}`));
  }
  return decisions;
}

describe("FairShare", () => {
  test("a tenant alone takes every slot of the cluster, and no more", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 4 });
    try {
      expect(await admitMany(fair, "a", 5)).toEqual([true, true, true, true, false]);
    } finally {
      await fair.stop();
    }
  });

  test("a tenant under its share starts while another holds every slot; the holder's next is turned away", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 4 });
    try {
      await admitMany(fair, "a", 4);
      // b's share is 2 of 4: both start in headroom, the third waits.
      expect(await admitMany(fair, "b", 3)).toEqual([true, true, false]);
      expect(await fair.admit("a", "a-e9", "a-q9")).toBe(false);
    } finally {
      await fair.stop();
    }
  });

  test("a release promotes a parked job of the tenant running least, oldest first", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair, promoted } = await fairShareOf(testRedis, { slots: 2 });
    try {
      await admitMany(fair, "a", 2);
      expect(await admitMany(fair, "a", 1, 2)).toEqual([false]);
      await fair.park("a", "a-q2", new Date(1000));
      await admitMany(fair, "b", 1);
      expect(await admitMany(fair, "b", 1, 1)).toEqual([false]);
      await fair.park("b", "b-q1", new Date(3000));
      await fair.park("b", "b-q0-old", new Date(2000));
      // Each release promotes one at least, from the tenant running least.
      await fair.release("b-e0");
      expect(promoted).toEqual(["b-q0-old"]);
      await fair.release("a-e0");
      expect(promoted).toEqual(["b-q0-old", "b-q1"]);
      await fair.release("a-e1");
      expect(promoted).toEqual(["b-q0-old", "b-q1", "a-q2"]);
    } finally {
      await fair.stop();
    }
  });

  test("a parked job delivered again is no longer counted waiting", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const keys = redisKeys(testRedis.prefix);
    const { fair } = await fairShareOf(testRedis, { slots: 1 });
    try {
      await admitMany(fair, "a", 1);
      expect(await admitMany(fair, "b", 1)).toEqual([true]);
      expect(await admitMany(fair, "b", 1, 1)).toEqual([false]);
      await fair.park("b", "b-q1", new Date());
      expect(await testRedis.redis.hget(keys.fairParkedCounts, "b")).toBe("1");
      await fair.release("a-e0");
      await fair.release("b-e0");
      expect(await fair.admit("b", "b-e1", "b-q1")).toBe(true);
      expect(await testRedis.redis.hgetall(keys.fairParkedCounts)).toEqual({});
      expect(await testRedis.redis.zcard(keys.fairParked("b"))).toBe(0);
    } finally {
      await fair.stop();
    }
  });

  test("a free slot goes to a tenant over its share only when no waiting one runs less", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 5 });
    try {
      // a and b run 2 each; c waits with none running: shares are 5/3 each.
      await admitMany(fair, "a", 2);
      await admitMany(fair, "b", 2);
      await fair.park("c", "c-q0", new Date());
      expect(await fair.admit("a", "a-e2", "a-q2")).toBe(false);
      expect(await fair.admit("c", "c-e0", "c-q0")).toBe(true);
    } finally {
      await fair.stop();
    }
  });

  test("a tenant at its share takes a free slot when the waiting ones run as much", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 6 });
    try {
      // Shares of 2; a and b run 2, c runs 1, b waits: one slot is free.
      await admitMany(fair, "a", 2);
      await admitMany(fair, "b", 2);
      await admitMany(fair, "c", 1);
      await fair.park("b", "b-q9", new Date());
      expect(await fair.admit("a", "a-e2", "a-q2")).toBe(true);
    } finally {
      await fair.stop();
    }
  });

  test("a turned-away delivery waiting in the worker is admitted when an execution of it ends", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 2, maxWaiting: 1 });
    try {
      await admitMany(fair, "a", 2);
      const waiting = fair.admitOrWait("a", "a-e2", "a-q2");
      // No room left to wait: the next one is to be parked at once.
      expect(await fair.admitOrWait("a", "a-e3", "a-q3")).toBe(false);
      await fair.release("a-e0");
      expect(await waiting).toBe(true);
    } finally {
      await fair.stop();
    }
  });

  test("a worker's overflow takes a tenant past the slots while no tenant running less waits", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 2, overflow: 1 });
    try {
      expect(await admitMany(fair, "a", 4)).toEqual([true, true, true, false]);
      // b waits with none running: a's next waits too, whatever the overflow.
      await fair.release("a-e0");
      await fair.park("b", "b-q0", new Date());
      expect(await fair.admit("a", "a-e9", "a-q9")).toBe(false);
    } finally {
      await fair.stop();
    }
  });

  test("weights divide the slots: 3 to 1 of 4", async ({ testRedis: fileRedis }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 4, weights: "a=3,b=1" });
    try {
      await admitMany(fair, "b", 1);
      expect(await admitMany(fair, "a", 4)).toEqual([true, true, true, false]);
      expect(await admitMany(fair, "b", 1, 1)).toEqual([false]);
    } finally {
      await fair.stop();
    }
  });

  test("the cap holds a tenant on an idle cluster", async ({ testRedis: fileRedis }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 10, maxPerTenant: 2 });
    try {
      expect(await admitMany(fair, "a", 3)).toEqual([true, true, false]);
    } finally {
      await fair.stop();
    }
  });

  test("a dead worker's leases stop counting once they expire", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const keys = redisKeys(testRedis.prefix);
    const { fair } = await fairShareOf(testRedis, { slots: 2 });
    try {
      await admitMany(fair, "a", 2);
      expect(await admitMany(fair, "a", 1, 2)).toEqual([false]);
      // As if their worker had died a lease ago.
      await testRedis.redis.zadd(keys.fairLeases, 0, "a-e0", 0, "a-e1");
      expect(await admitMany(fair, "a", 1, 3)).toEqual([true]);
      expect(await testRedis.redis.hget(keys.fairRunning, "a")).toBe("1");
    } finally {
      await fair.stop();
    }
  });

  test("an execution delivered again under its lease is not counted twice", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const keys = redisKeys(testRedis.prefix);
    const { fair } = await fairShareOf(testRedis, { slots: 2 });
    try {
      await admitMany(fair, "a", 2);
      expect(await fair.admit("a", "a-e0", "a-q0")).toBe(true);
      expect(await testRedis.redis.hget(keys.fairRunning, "a")).toBe("2");
    } finally {
      await fair.stop();
    }
  });

  test("stop takes the worker's slots out of the cluster", async ({ testRedis: fileRedis }) => {
    const testRedis = ownRedis(fileRedis);
    const keys = redisKeys(testRedis.prefix);
    const { fair } = await fairShareOf(testRedis, { slots: 3 });
    expect(await testRedis.redis.zrange(keys.fairWorkers, 0, -1)).toEqual(["w-1|3"]);
    await fair.stop();
    expect(await testRedis.redis.zcard(keys.fairWorkers)).toBe(0);
  });

  test("the longest wait is the oldest parked job's over all tenants, 0 with none", async ({
    testRedis: fileRedis,
  }) => {
    const testRedis = ownRedis(fileRedis);
    const { fair } = await fairShareOf(testRedis, { slots: 1 });
    try {
      expect(await fair.longestWaitSeconds()).toBe(0);
      await fair.park("a", "a-q1", new Date(Date.now() - 5000));
      await fair.park("b", "b-q1", new Date(Date.now() - 60_000));
      const seconds = await fair.longestWaitSeconds();
      expect(seconds).toBeGreaterThanOrEqual(60);
      expect(seconds).toBeLessThan(120);
    } finally {
      await fair.stop();
    }
  });
});
