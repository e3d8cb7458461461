import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import { METRIC_OWNERS, type MetricsProcess } from "@scheduler/core";
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
  skipped: number;
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

/**
 * Whether a metric was moved in an exposition: a counter or a histogram counted
 * something, a gauge was given a value.
 */
function moved(text: string, name: string): boolean {
  const type = new RegExp(`^# TYPE ${name} (\\w+)$`, "m").exec(text)?.[1];
  if (type === "histogram") return sample(text, `${name}_count`) > 0;
  if (type === "counter") return sample(text, name) > 0;
  return text
    .split("\n")
    .some((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe("each process's /metrics during a run", () => {
  const processes: RunningProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => stopApp(p)));
  });

  test("counts what the API reports, and moves every metric each process exposes", async ({
    database,
    testRedis,
  }) => {
    const target = createServer((req, res) => {
      res.statusCode = req.url === "/fail" ? 500 : 200;
      // A slow answer keeps its job's one maxConcurrent slot taken: the next slots skip.
      if (req.url === "/slow") setTimeout(() => res.end("late"), 2500);
      else res.end(req.url === "/fail" ? "no" : "ok");
    });
    target.listen(0, "127.0.0.1");
    await once(target, "listening");
    const targetUrl = `http://127.0.0.1:${(target.address() as { port: number }).port}/`;
    const port = await freePort();
    const metricsPorts = {
      api: await freePort(),
      scheduler: await freePort(),
      worker: await freePort(),
    };
    // A month long past the retention: the leader drops it when it starts leading.
    await database.pool.query(
      "CREATE TABLE job_executions_y2001m01 PARTITION OF job_executions FOR VALUES FROM ('2001-01-01') TO ('2001-02-01')",
    );
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
      // Retention may give up on the history's lock (lock_timeout): try again soon.
      PARTITION_MAINTENANCE_INTERVAL_MS: "1000",
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
      const failing = (await (
        await fetch(`${base}/jobs`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            name: "failing",
            cronExpression: "* * * * * *",
            jobType: "http",
            config: { url: `${targetUrl}fail`, method: "GET" },
            retryConfig: { maxRetries: 0, retryDelayMs: 0, exponentialBackoff: false },
          }),
        })
      ).json()) as { id: string };
      const slow = (await (
        await fetch(`${base}/jobs`, {
          method: "POST",
          headers,
          body: JSON.stringify({
            name: "slow",
            cronExpression: "* * * * * *",
            jobType: "http",
            config: { url: `${targetUrl}slow`, method: "GET" },
            maxConcurrent: 1,
          }),
        })
      ).json()) as { id: string };
      const statsOf = async (jobId: string) =>
        (await (
          await fetch(
            `${base}/executions/stats?jobId=${jobId}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z`,
            { headers },
          )
        ).json()) as Stats;
      await waitFor(async () => (await statsOf(job.id)).completed >= 4, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: "4 completed executions",
      });
      await waitFor(async () => (await statsOf(failing.id)).failed >= 1, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: "a failed execution",
      });
      await waitFor(async () => (await statsOf(slow.id)).skipped >= 1, {
        timeoutMs: 30_000,
        intervalMs: 250,
        what: "a skipped execution",
      });
      for (const id of [job.id, failing.id, slow.id])
        await fetch(`${base}/jobs/${id}/stop`, { method: "POST", headers });
      const stats = await waitFor(
        async () => {
          const s = await statsOf(job.id);
          const f = await statsOf(failing.id);
          const w = await statsOf(slow.id);
          return s.pending + s.running + f.pending + f.running + w.pending + w.running === 0
            ? s
            : undefined;
        },
        { timeoutMs: 15_000, what: "the jobs to go quiet" },
      );
      // Dropping the old month waits for the history's lock, which every-second claims
      // keep taking; once the jobs are quiet a retry gets it.
      await waitFor(
        async () => sample(await scrape("scheduler"), "scheduler_partitions_dropped_total") > 0,
        { timeoutMs: 30_000, what: "the old partition dropped" },
      );
      // A server-side failure of the API: a table it reads is gone for a moment.
      await database.pool.query("ALTER TABLE audit_events RENAME TO audit_events_away");
      try {
        const broken = await fetch(`${base}/audit`, { headers });
        expect(broken.status).toBeGreaterThanOrEqual(500);
      } finally {
        await database.pool.query("ALTER TABLE audit_events_away RENAME TO audit_events");
      }

      const worker = await scrape("worker");
      const failed = (await statsOf(failing.id)).failed;
      const slowStats = await statsOf(slow.id);
      expect(
        sample(worker, "scheduler_job_executions_total", { status: "completed" }),
        "completed",
      ).toBe(stats.completed + slowStats.completed);
      expect(sample(worker, "scheduler_failed_jobs_total", { job_type: "http" }), "failed").toBe(
        failed,
      );
      expect(sample(worker, "scheduler_execution_duration_seconds_count"), "durations").toBe(
        stats.completed + stats.failed + failed + slowStats.completed + slowStats.failed,
      );
      expect(sample(worker, "scheduler_active_jobs")).toBe(0);
      // Skipped slots carry the job's type and the execution's trigger, never "unknown".
      expect(
        sample(worker, "scheduler_executions_total", {
          job_type: "http",
          status: "skipped",
          trigger_type: "scheduled",
        }),
        "skipped",
      ).toBe(slowStats.skipped);
      expect(worker).not.toContain('"unknown"');
      for (const [name, text] of [
        ["worker", worker],
        ["api", await scrape("api")],
        ["scheduler", await scrape("scheduler")],
      ]) {
        expect(
          sample(text!, "scheduler_active_connections", { kind: "redis" }),
          name,
        ).toBeGreaterThan(0);
        expect(
          sample(text!, "scheduler_active_connections", { kind: "postgres" }),
          name,
        ).toBeGreaterThan(0);
      }
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
      ).toBe(3);
      expect(sample(api, "scheduler_jobs_total", { status: "inactive" })).toBe(3);
      expect(
        sample(api, "scheduler_errors_total", { operation: "GET /api/v1/scheduler/audit" }),
      ).toBe(1);
      expect(sample(api, "scheduler_workers_alive"), "workers alive").toBe(1);
      expect(api).not.toContain(job.id);
      expect(worker).not.toContain(job.id);

      // A leader stalled past its lock's lifetime before a renewal: another scheduler
      // (this one with the failpoint armed) takes over once the first has stopped.
      await stopApp(started[1]!);
      const stalled = startApp("scheduler", {
        ...env,
        SCHEDULER_FAILPOINTS: "leader.before_renew:pause:3500",
      });
      processes.push(stalled);
      const stalledPort = await waitFor(
        () => Number(/"metricsPort":(\d+)/.exec(stalled.output())?.[1]) || undefined,
        { timeoutMs: 60_000, what: "the second scheduler's metrics port" },
      );
      const stalledText = await waitFor(
        async () => {
          const text = await (await fetch(`http://127.0.0.1:${stalledPort}/metrics`)).text();
          return sample(text, "scheduler_lock_timeouts_total", { lock: "leader" }) > 0
            ? text
            : undefined;
        },
        { timeoutMs: 30_000, what: "a lock timeout" },
      );

      // Every metric a process exposes was moved by the run (the two schedulers together).
      const texts: Record<MetricsProcess, string[]> = {
        api: [api],
        scheduler: [scheduler, stalledText],
        worker: [worker],
      };
      const unmoved = Object.entries(METRIC_OWNERS).flatMap(([name, owners]) =>
        owners
          .filter((owner) => !texts[owner].some((text) => moved(text, name)))
          .map((owner) => `${owner} ${name}`),
      );
      expect(unmoved, `unmoved: ${unmoved.join(", ")}`).toEqual([]);
      // Tenant labels are off by default: no tenant id reaches the exposition.
      for (const text of [api, scheduler, worker, stalledText]) {
        expect(text).not.toContain("tenant_id");
        expect(text).not.toContain(tenantId);
      }
    } catch (error) {
      (error as Error).message +=
        `\n${processes.map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`).join("\n")}`;
      throw error;
    } finally {
      target.close();
    }
  }, 150_000);
});
