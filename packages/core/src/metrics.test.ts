import { afterEach, describe, expect, it } from "vitest";
import { METRIC_OWNERS } from "./metricOwners.js";
import { createMetrics, type MetricsServer, startMetricsServer } from "./metrics.js";

/** The metric names the dashboards and alerts are built on (docs/deploy.md §Metrics). */
const CORE_METRICS = [
  "scheduler_job_executions_total",
  "scheduler_execution_duration_seconds",
  "scheduler_queue_size",
  "scheduler_operations_total",
  "scheduler_operation_duration_seconds",
  "scheduler_errors_total",
  "scheduler_jobs_total",
  "scheduler_active_jobs",
  "scheduler_executions_total",
  "scheduler_failed_jobs_total",
  "scheduler_memory_usage_bytes",
  "scheduler_cpu_usage_percent",
  "scheduler_active_connections",
  "scheduler_lock_acquisitions_total",
  "scheduler_lock_timeouts_total",
];
const SCHEDULER_ONLY = [
  "scheduler_tick_duration_seconds",
  "scheduler_tick_lag_seconds",
  "scheduler_jobs_fired_total",
  "scheduler_leader",
  "scheduler_leader_changes_total",
  "scheduler_partitions_dropped_total",
];

/** Names declared by `# TYPE` lines of a text exposition, with their type. */
function declaredTypes(text: string): Map<string, string> {
  return new Map(
    [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name!, type!]),
  );
}

/** The sample lines of one metric (its _bucket/_sum/_count lines for a histogram). */
function samples(text: string, name: string): string[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe("createMetrics", () => {
  it.each(["api", "worker", "scheduler"] as const)(
    "exposes, with help text, exactly the service metrics the %s process owns",
    async (name) => {
      const text = await createMetrics({ process: name }).registry.metrics();
      const types = declaredTypes(text);
      const owned = Object.keys(METRIC_OWNERS).filter((m) => METRIC_OWNERS[m]!.includes(name));
      const ours = [...types.keys()].filter((m) => m.startsWith("scheduler_"));
      expect(ours.sort()).toEqual(owned.sort());
      for (const metric of owned) {
        expect(text).toMatch(new RegExp(`^# HELP ${metric} \\S.+$`, "m"));
      }
    },
  );

  it("exposes every metric of the service's list in some process, with its type", async () => {
    const types = new Map<string, string>();
    for (const name of ["api", "worker", "scheduler"] as const) {
      for (const [metric, type] of declaredTypes(
        await createMetrics({ process: name }).registry.metrics(),
      ))
        types.set(metric, type);
    }
    for (const metric of [...CORE_METRICS, ...SCHEDULER_ONLY, "scheduler_clock_skew_seconds"]) {
      expect(types.has(metric), metric).toBe(true);
    }
    expect(types.get("scheduler_execution_duration_seconds")).toBe("histogram");
    expect(types.get("scheduler_job_executions_total")).toBe("counter");
    expect(types.get("scheduler_queue_size")).toBe("gauge");
    expect(types.get("scheduler_workers_alive")).toBe("gauge");
  });

  it("adds the tick and leadership metrics to the scheduler only", async () => {
    const scheduler = declaredTypes(
      await createMetrics({ process: "scheduler" }).registry.metrics(),
    );
    const api = declaredTypes(await createMetrics({ process: "api" }).registry.metrics());
    for (const metric of SCHEDULER_ONLY) {
      expect(scheduler.has(metric), metric).toBe(true);
      expect(api.has(metric), metric).toBe(false);
    }
    expect(scheduler.get("scheduler_tick_duration_seconds")).toBe("histogram");
    expect(scheduler.get("scheduler_tick_lag_seconds")).toBe("gauge");
    expect(scheduler.get("scheduler_leader_changes_total")).toBe("counter");
    expect(scheduler.get("scheduler_partitions_dropped_total")).toBe("counter");
  });

  it("includes Node's default process metrics under their usual names", async () => {
    const types = declaredTypes(await createMetrics({ process: "worker" }).registry.metrics());
    for (const metric of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ]) {
      expect(types.has(metric), metric).toBe(true);
    }
  });

  it("labels executions by job type and status, and refuses a tenant id, by default", async () => {
    const metrics = createMetrics({ process: "worker" });
    expect(metrics.tenantLabels).toBe(false);
    metrics.jobExecutions.inc({ job_type: "http", status: "completed" });
    metrics.executionDuration.observe({ job_type: "http" }, 2);
    expect(() =>
      metrics.jobExecutions.inc({ job_type: "http", status: "completed", tenant_id: "t-1" }),
    ).toThrow(/tenant_id/);
    const text = await metrics.registry.metrics();
    expect(samples(text, "scheduler_job_executions_total")).toEqual([
      'scheduler_job_executions_total{job_type="http",status="completed",app="worker"} 1',
    ]);
    expect(text).not.toContain("tenant_id");
  });

  it("labels executions by tenant too when tenant labels are on", async () => {
    const metrics = createMetrics({ process: "worker", tenantLabels: true });
    metrics.jobExecutions.inc({ job_type: "http", status: "completed", tenant_id: "t-1" });
    metrics.executionDuration.observe({ job_type: "http", tenant_id: "t-1" }, 2);
    const text = await metrics.registry.metrics();
    expect(samples(text, "scheduler_job_executions_total")).toEqual([
      'scheduler_job_executions_total{job_type="http",status="completed",tenant_id="t-1",app="worker"} 1',
    ]);
    const buckets = samples(text, "scheduler_execution_duration_seconds_bucket").map(
      (line) => /le="([^"]+)"/.exec(line)?.[1],
    );
    expect(buckets).toEqual(["0.1", "0.5", "1", "5", "10", "30", "60", "300", "+Inf"]);
  });

  it.each([
    ["jobExecutions", ["job_type", "status"]],
    ["executionDuration", ["job_type"]],
    ["queueSize", ["queue_name", "state"]],
    ["operations", ["operation", "status"]],
    ["operationDuration", ["operation"]],
    ["errors", ["operation", "code"]],
    ["jobs", ["status"]],
    ["activeJobs", ["job_type"]],
    ["executions", ["job_type", "status", "trigger_type"]],
    ["failedJobs", ["job_type", "error_type"]],
    ["lockAcquisitions", ["lock", "result"]],
    ["lockTimeouts", ["lock"]],
    ["activeConnections", ["kind"]],
    ["memoryUsage", []],
    ["cpuUsage", []],
    ["clockSkew", []],
    ["workersAlive", []],
  ] as const)("declares %s with the labels %j and no others", (field, labels) => {
    const metric = createMetrics({ process: "api" })[field] as unknown as { labelNames: string[] };
    expect(metric.labelNames).toEqual(labels);
  });

  it("refuses an execution id as a label", () => {
    const metrics = createMetrics({ process: "worker" });
    const labels = { job_type: "http", status: "failed", execution_id: "x" };
    expect(() => metrics.jobExecutions.inc(labels as never)).toThrow(/execution_id/);
  });

  it("labels leadership by instance id", async () => {
    const metrics = createMetrics({ process: "scheduler" });
    metrics.leader.set({ instance_id: "scheduler-a-1" }, 1);
    metrics.leaderChanges.inc();
    const text = await metrics.registry.metrics();
    expect(samples(text, "scheduler_leader")).toEqual([
      'scheduler_leader{instance_id="scheduler-a-1",app="scheduler"} 1',
    ]);
    expect(samples(text, "scheduler_leader_changes_total")).toEqual([
      'scheduler_leader_changes_total{app="scheduler"} 1',
    ]);
  });

  it("reads memory and CPU use on scrape", async () => {
    const metrics = createMetrics({ process: "api" });
    let spin = 0;
    for (let i = 0; i < 2e6; i++) spin += i;
    expect(spin).toBeGreaterThan(0);
    const text = await metrics.registry.metrics();
    const memory = Number(samples(text, "scheduler_memory_usage_bytes")[0]?.split(" ")[1]);
    const cpu = Number(samples(text, "scheduler_cpu_usage_percent")[0]?.split(" ")[1]);
    expect(memory).toBeGreaterThan(10 * 1024 * 1024);
    expect(cpu).toBeGreaterThan(0);
  });

  it("refreshes a gauge from its scrape-time read, and keeps the last value when the read hangs", async () => {
    const metrics = createMetrics({ process: "api", collectTimeoutMs: 50 });
    let hang = false;
    let waiting = 7;
    metrics.collectOnScrape(metrics.queueSize, async () => {
      if (hang) await new Promise(() => {});
      metrics.queueSize.set({ queue_name: "executions", state: "waiting" }, waiting);
    });
    const line = 'scheduler_queue_size{queue_name="executions",state="waiting",app="api"}';
    expect(samples(await metrics.registry.metrics(), "scheduler_queue_size")).toEqual([
      `${line} 7`,
    ]);
    hang = true;
    waiting = 9;
    expect(samples(await metrics.registry.metrics(), "scheduler_queue_size")).toEqual([
      `${line} 7`,
    ]);
  });

  it("refuses a scrape-time read for a gauge of another registry", () => {
    const one = createMetrics({ process: "api" });
    const other = createMetrics({ process: "api" });
    expect(() => one.collectOnScrape(other.queueSize, () => {})).toThrow(/not one of/);
  });
});

describe("startMetricsServer", () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("serves the text exposition at /metrics on an ephemeral port", async () => {
    const metrics = createMetrics({ process: "worker" });
    server = await startMetricsServer({ port: 0, host: "127.0.0.1", registry: metrics.registry });
    expect(server.port).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await res.text()).toContain("# TYPE scheduler_execution_duration_seconds histogram");
  });

  it("answers /health with the status and body the callback gives", async () => {
    const metrics = createMetrics({ process: "scheduler" });
    server = await startMetricsServer({
      port: 0,
      host: "127.0.0.1",
      registry: metrics.registry,
      health: async () => ({ status: 503, body: { status: "unhealthy" } }),
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "unhealthy" });
  });

  it("answers 503 when the health callback throws", async () => {
    server = await startMetricsServer({
      port: 0,
      host: "127.0.0.1",
      registry: createMetrics({ process: "worker" }).registry,
      health: async () => {
        throw new Error("redis down");
      },
    });
    const res = await fetch(`http://127.0.0.1:${server.port}/health`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "unhealthy", error: "redis down" });
  });

  it("answers /livez 200 without calling the health check, and /readyz as /health", async () => {
    let calls = 0;
    server = await startMetricsServer({
      port: 0,
      host: "127.0.0.1",
      registry: createMetrics({ process: "worker" }).registry,
      health: async () => {
        calls += 1;
        return { status: 503, body: { status: "unhealthy", dependencies: { redis: false } } };
      },
    });
    const base = `http://127.0.0.1:${server.port}`;
    const live = await fetch(`${base}/livez`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: "alive" });
    expect(calls).toBe(0);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "unhealthy", dependencies: { redis: false } });
    expect(calls).toBe(1);
  });

  it("answers 404 for other paths and methods, and for /health without a callback", async () => {
    server = await startMetricsServer({
      port: 0,
      host: "127.0.0.1",
      registry: createMetrics({ process: "api" }).registry,
    });
    const base = `http://127.0.0.1:${server.port}`;
    for (const [method, path] of [
      ["GET", "/health"],
      ["GET", "/readyz"],
      ["GET", "/"],
      ["GET", "/metricsx"],
      ["POST", "/metrics"],
    ]) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    }
  });

  it("refuses a port already in use", async () => {
    const registry = createMetrics({ process: "api" }).registry;
    server = await startMetricsServer({ port: 0, host: "127.0.0.1", registry });
    await expect(
      startMetricsServer({ port: server.port, host: "127.0.0.1", registry }),
    ).rejects.toThrow(/EADDRINUSE/);
  });

  it("closes idempotently with a keep-alive connection open", async () => {
    const registry = createMetrics({ process: "api" }).registry;
    const started = await startMetricsServer({ port: 0, host: "127.0.0.1", registry });
    await fetch(`http://127.0.0.1:${started.port}/metrics`).then((res) => res.text());
    await Promise.all([started.close(), started.close()]);
    await expect(fetch(`http://127.0.0.1:${started.port}/metrics`)).rejects.toThrow();
  });
});
