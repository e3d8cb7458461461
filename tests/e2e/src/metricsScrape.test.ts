import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
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

interface Stats {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
}

/** Sum of a metric's samples whose labels include every given label. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      total += Number(line.split(" ").at(-1));
  }
  return total;
}

describe("each process's /metrics during a run", () => {
  const processes: RunningProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p)));
  });

  test("counts what the API reports: each completed execution once", async ({
    database,
    testRedis,
  }) => {
    const target = createServer((_req, res) => res.end("ok"));
    target.listen(0, "127.0.0.1");
    await once(target, "listening");
    const targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}/`;
    const port = await freePort();
    const metricsPorts = {
      api: await freePort(),
      scheduler: await freePort(),
      worker: await freePort(),
    };
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL: testRedis.url,
      REDIS_KEY_PREFIX: testRedis.prefix,
      JWT_SECRET,
      CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
      HTTP_JOB_ALLOWED_CIDRS: "127.0.0.0/8",
      PORT: String(port),
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      NODE_ENV: "test",
      SCHEDULER_LOCK_TTL_MS: "3000",
    };
    // Each process binds an ephemeral metrics port and logs it: ports picked in advance
    // could be taken meanwhile by another test's process.
    const started = (["api", "scheduler", "worker"] as const).map((name) => {
      const p = startApp(name, env);
      processes.push(p);
      return p;
    });
    const scrape = async (name: keyof typeof metricsPorts) =>
      (await fetch(`http://127.0.0.1:${metricsPorts[name]}/metrics`)).text();
    try {
      for (const p of started) {
        metricsPorts[p.name] = await waitFor(
          () => Number(/"metricsPort":(\d+)/.exec(p.output())?.[1]) || undefined,
          { timeoutMs: 60_000, what: `${p.name} metrics port` },
        );
      }
      for (const name of ["api", "scheduler", "worker"] as const) {
        await waitFor(
          async () =>
            (await fetch(`http://127.0.0.1:${metricsPorts[name]}/health`).catch(() => null))?.ok,
          {
            timeoutMs: 30_000,
            what: `${name} health`,
          },
        );
      }
      const tenantId = randomUUID();
      const token = signTestJwt(
        { sub: randomUUID(), tenantId, permissions: ["scheduler:admin"] },
        JWT_SECRET,
      );
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const base = `http://127.0.0.1:${port}/api/v1/scheduler`;
      const job = (await (
        await fetch(`${base}/jobs`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            name: "metered",
            cronExpression: "* * * * * *",
            jobType: "http",
            config: { url: targetUrl, method: "GET" },
          }),
        })
      ).json()) as { id: string };
      await waitFor(
        async () =>
          (
            (await (
              await fetch(
                `${base}/executions/stats?jobId=${job.id}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`,
                { headers },
              )
            ).json()) as { completed: number }
          ).completed >= 4,
        { timeoutMs: 30_000, intervalMs: 250, what: "4 completed executions" },
      );
      await fetch(`${base}/jobs/${job.id}/stop`, { method: "POST", headers });
      const stats = await waitFor(
        async () => {
          const s = (await (
            await fetch(
              `${base}/executions/stats?jobId=${job.id}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`,
              { headers },
            )
          ).json()) as Stats;
          return s.pending === 0 && s.running === 0 ? s : undefined;
        },
        { timeoutMs: 15_000, what: "the job to go quiet" },
      );

      const worker = await scrape("worker");
      expect(
        sample(worker, "scheduler_job_executions_total", {
          status: "completed",
          tenant_id: tenantId,
        }),
      ).toBe(stats.completed);
      expect(
        sample(worker, "scheduler_execution_duration_seconds_count", { tenant_id: tenantId }),
      ).toBe(stats.completed + stats.failed);
      expect(sample(worker, "scheduler_active_jobs")).toBe(0);
      const scheduler = await scrape("scheduler");
      expect(sample(scheduler, "scheduler_leader")).toBe(1);
      expect(sample(scheduler, "scheduler_leader_changes_total")).toBe(1);
      expect(sample(scheduler, "scheduler_jobs_fired_total")).toBeGreaterThanOrEqual(
        stats.completed,
      );
      expect(sample(scheduler, "scheduler_tick_duration_seconds_count")).toBeGreaterThan(0);
      const api = await scrape("api");
      expect(
        sample(api, "scheduler_operations_total", {
          operation: "POST /api/v1/scheduler/jobs",
          status: "success",
        }),
      ).toBe(1);
      expect(sample(api, "scheduler_jobs_total", { status: "inactive" })).toBe(1);
      expect(api).not.toContain(job.id);
      expect(worker).not.toContain(job.id);
    } catch (error) {
      (error as Error).message +=
        `\n${processes.map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`).join("\n")}`;
      throw error;
    } finally {
      target.close();
    }
  }, 90_000);
});
