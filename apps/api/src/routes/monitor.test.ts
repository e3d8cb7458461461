import { randomUUID } from "node:crypto";
import { redisKeys, type WorkerHeartbeat } from "@scheduler/core";
import { recordLeadership } from "@scheduler/db";
import { describe, expect } from "vitest";
import { API, auth, createJob, apiTest as it, newTenant } from "../testApp.js";

describe("monitoring endpoints", () => {
  it("list each tenant's running and waiting executions in /queues for scheduler:admin only", async ({
    app,
    testRedis,
  }) => {
    const keys = redisKeys(testRedis.prefix);
    await testRedis.redis.hset(keys.fairRunning, "tenant-a", "4", "tenant-b", "1");
    await testRedis.redis.hset(keys.fairParkedCounts, "tenant-a", "9", "tenant-c", "2");
    try {
      const tenant = newTenant();
      const admin = await app.inject({
        url: `${API}/queues`,
        headers: auth(tenant.token(["scheduler:admin"])),
      });
      expect(admin.json().tenants).toEqual([
        { tenantId: "tenant-a", running: 4, waiting: 9 },
        { tenantId: "tenant-b", running: 1, waiting: 0 },
        { tenantId: "tenant-c", running: 0, waiting: 2 },
      ]);
      const monitor = await app.inject({
        url: `${API}/queues`,
        headers: auth(tenant.token(["scheduler:monitor"])),
      });
      expect(monitor.statusCode).toBe(200);
      expect(monitor.json().tenants).toBeUndefined();
    } finally {
      await testRedis.redis.del(keys.fairRunning, keys.fairParkedCounts);
    }
  });

  it("need scheduler:monitor", async ({ app }) => {
    const tenant = newTenant();
    for (const path of ["/status", "/metrics", "/queues", "/workers"]) {
      const res = await app.inject({
        url: `${API}${path}`,
        headers: auth(tenant.token(["jobs:read"])),
      });
      expect(res.statusCode, path).toBe(403);
    }
  });

  it("report the leader, queue counts, workers and the tenant's job counts", async ({
    app,
    database,
    testRedis,
  }) => {
    const tenant = newTenant();
    const keys = redisKeys(testRedis.prefix);
    await createJob(app, tenant);
    await recordLeadership(database.db, {
      lockKey: keys.leaderLock,
      lockedBy: "scheduler-a",
      epoch: 3,
      expiresAt: new Date(Date.now() + 10_000),
      metadata: { lastTickAt: new Date().toISOString(), tickLagMs: 12, tickDurationMs: 4 },
    });
    const now = new Date();
    const heartbeat: WorkerHeartbeat = {
      id: "worker-1",
      host: "h",
      pid: 1,
      concurrency: 5,
      active: 1,
      processed: 10,
      failed: 2,
      startedAt: now.toISOString(),
      lastHeartbeatAt: now.toISOString(),
      heartbeatMs: 5000,
    };
    await testRedis.redis.set(keys.workerHeartbeat("worker-1"), JSON.stringify(heartbeat));
    await testRedis.redis.zadd(keys.workersIndex, now.getTime(), "worker-1");
    await testRedis.redis.zadd(keys.workersIndex, now.getTime() - 60_000, "worker-gone");
    await testRedis.redis.set(
      keys.schedulerHeartbeat("scheduler-a"),
      JSON.stringify({
        id: "scheduler-a",
        host: "h",
        pid: 2,
        startedAt: now.toISOString(),
        lastHeartbeatAt: now.toISOString(),
        leader: true,
        epoch: 3,
        heartbeatMs: 1000,
      }),
    );
    await testRedis.redis.zadd(keys.schedulersIndex, now.getTime(), "scheduler-a");
    const headers = auth(tenant.token(["scheduler:monitor"]));

    const status = (await app.inject({ url: `${API}/status`, headers })).json();
    expect(status).toMatchObject({
      leader: { id: "scheduler-a", epoch: 3 },
      tickLagMs: 12,
      jobs: { active: 1, paused: 0, inactive: 0 },
    });

    const queues = (await app.inject({ url: `${API}/queues`, headers })).json();
    expect(queues.queues[0]).toEqual({
      name: "executions",
      waiting: 0,
      active: 0,
      delayed: 0,
      prioritized: 0,
      completed: 0,
      failed: 0,
      paused: 0,
    });

    const workers = (await app.inject({ url: `${API}/workers`, headers })).json().workers;
    expect(workers).toEqual(
      expect.arrayContaining([
        {
          id: "worker-1",
          host: "h",
          pid: 1,
          concurrency: 5,
          active: 1,
          processed: 10,
          failed: 2,
          startedAt: now.toISOString(),
          lastHeartbeatAt: now.toISOString(),
          alive: true,
        },
        expect.objectContaining({ id: "worker-gone", alive: false }),
      ]),
    );

    const metrics = (await app.inject({ url: `${API}/metrics`, headers })).json();
    expect(metrics).toMatchObject({
      totalJobs: 1,
      activeJobs: 1,
      pausedJobs: 0,
      totalExecutions: 0,
      queueLength: 0,
      activeWorkers: 1,
      errorRate: 0,
    });
    void randomUUID;
  });
});
