import { randomUUID } from "node:crypto";
import {
  freePort,
  type RunningProcess,
  signTestJwt,
  startApp,
  stopApp,
  TEST_CONFIG_ENCRYPTION_KEY,
  test,
  waitFor,
} from "@scheduler/testkit";
import { afterAll, describe, expect } from "vitest";

const JWT_SECRET = "e2e-secret-of-at-least-thirty-two-characters";

describe("pause racing the scheduler's tick", () => {
  const processes: RunningProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p)));
  });

  test("leaves no run of a paused job scheduled after the pause", async ({
    database,
    testRedis,
  }) => {
    const port = await freePort();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: testRedis.url,
      REDIS_KEY_PREFIX: testRedis.prefix,
      JWT_SECRET,
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      NODE_ENV: "test",
      SCHEDULER_TICK_MS: "100",
      SCHEDULER_LOOKAHEAD_MS: "2000",
      SCHEDULER_LOCK_TTL_MS: "3000",
    };
    processes.push(startApp("api", env), startApp("scheduler", env));
    const base = `http://127.0.0.1:${port}/api/v1/scheduler`;
    await waitFor(
      async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok,
      {
        timeoutMs: 30_000,
        what: "api health",
      },
    );
    const token = signTestJwt(
      { sub: randomUUID(), tenantId: randomUUID(), permissions: ["scheduler:admin"] },
      JWT_SECRET,
    );
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const job = (await (
      await fetch(`${base}/jobs`, {
        method: "POST",
        headers,
        body: JSON.stringify({
          name: "pause-race",
          cronExpression: "* * * * * *",
          jobType: "http",
          config: { url: "https://example.com/", method: "GET" },
        }),
      })
    ).json()) as { id: string };
    const post = (action: string) =>
      fetch(`${base}/jobs/${job.id}/${action}`, { method: "POST", headers });

    for (let cycle = 0; cycle < 8; cycle++) {
      await new Promise((r) => setTimeout(r, 300 + Math.random() * 900));
      const paused = (await (await post("pause")).json()) as { status: string; updatedAt: string };
      expect(paused.status).toBe("paused");
      const pausedAt = paused.updatedAt;
      // While paused, let the scheduler tick a few times: it must record nothing new.
      await new Promise((r) => setTimeout(r, 400));
      const { rows } = await database.pool.query(
        `SELECT count(*) FILTER (WHERE status <> 'cancelled' AND scheduled_at > $2)::int AS live_after,
                count(*) FILTER (WHERE created_at > $2)::int AS created_after
           FROM job_executions WHERE job_id = $1`,
        [job.id, pausedAt],
      );
      expect(rows[0]).toEqual({ live_after: 0, created_after: 0 });
      expect((await post("resume")).status).toBe(200);
    }
    const { rows } = await database.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT scheduled_at)::int AS slots FROM job_executions WHERE job_id = $1",
      [job.id],
    );
    expect(rows[0].n).toBeGreaterThan(0);
    expect(rows[0].slots).toBe(rows[0].n);
  }, 90_000);
});
