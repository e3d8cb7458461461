import {
  createLogger,
  isSchedulerAlive,
  redisKeys,
  type SchedulerHeartbeat,
} from "@scheduler/core";
import { test as it, waitFor } from "@scheduler/testkit";
import { describe, expect } from "vitest";
import { SchedulerHeartbeatLoop } from "./heartbeat.js";

const log = createLogger({ name: "heartbeat-test", level: "silent" });

describe("SchedulerHeartbeatLoop", () => {
  it("keeps a heartbeat with the instance's leadership while running and removes it at stop", async ({
    testRedis,
  }) => {
    const keys = redisKeys(testRedis.prefix);
    const leadership = { epoch: 0, isLeader: () => leadership.epoch > 0 };
    const startedAt = new Date("2026-06-01T12:00:00.000Z");
    const loop = new SchedulerHeartbeatLoop({
      redis: testRedis.redis,
      key: keys.schedulerHeartbeat("s1"),
      indexKey: keys.schedulersIndex,
      instance: { id: "s1", host: "host-a", pid: 1234, startedAt },
      leader: leadership,
      periodMs: 100,
      log,
    });
    // A dead instance's entry, older than three periods, is dropped by the next beat.
    await testRedis.redis.zadd(keys.schedulersIndex, Date.now() - 60_000, "dead");
    loop.start();
    const read = async () => {
      const json = await testRedis.redis.get(keys.schedulerHeartbeat("s1"));
      return json ? (JSON.parse(json) as SchedulerHeartbeat) : undefined;
    };
    const first = await waitFor(read, { what: "a heartbeat" });
    expect(first).toMatchObject({
      id: "s1",
      host: "host-a",
      pid: 1234,
      startedAt: startedAt.toISOString(),
      leader: false,
      epoch: 0,
      heartbeatMs: 100,
    });
    expect(isSchedulerAlive(first, new Date())).toBe(true);
    expect(await testRedis.redis.pttl(keys.schedulerHeartbeat("s1"))).toBeLessThanOrEqual(300);
    expect(await testRedis.redis.zrange(keys.schedulersIndex, 0, -1)).toEqual(["s1"]);

    leadership.epoch = 9;
    await waitFor(async () => (await read())?.leader, { what: "a leader heartbeat" });
    expect((await read())?.epoch).toBe(9);

    await loop.stop();
    expect(await testRedis.redis.exists(keys.schedulerHeartbeat("s1"))).toBe(0);
    expect(await testRedis.redis.zcard(keys.schedulersIndex)).toBe(0);
  });
});
