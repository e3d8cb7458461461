import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { METRIC_OWNERS } from "./metricOwners.js";

/** The process a registry belongs to; exposed as the `app` label on every series. */
export type MetricsProcess = "api" | "scheduler" | "worker";

/** Job run time, in seconds (buckets from 0.1 s to 5 min). */
export const EXECUTION_DURATION_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300];
/** API requests and database/Redis operations, in seconds: fine around the 100 ms p95 target. */
export const OPERATION_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One scheduler tick, in seconds (a tick runs every second by default). */
export const TICK_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Every metric of every process. Label values must come from closed sets (statuses, job
 * types, error codes, route patterns, the ≤ 100 tenants): never a job or execution id.
 */
export interface Metrics {
  registry: Registry;
  /**
   * Whether the execution series carry `tenant_id` (MetricsOptions.tenantLabels). When
   * false their label set has no tenant_id, and a value given for it is refused.
   */
  tenantLabels: boolean;
  /** scheduler_job_executions_total: finished executions; status completed|failed|cancelled|skipped; tenant_id only with tenantLabels. */
  jobExecutions: Counter<"job_type" | "status" | "tenant_id">;
  /** scheduler_execution_duration_seconds: run time of one finished execution, retries included; tenant_id only with tenantLabels. */
  executionDuration: Histogram<"job_type" | "tenant_id">;
  /** scheduler_queue_size: queue jobs by BullMQ state (waiting, delayed, prioritized, active, paused). */
  queueSize: Gauge<"queue_name" | "state">;
  /** scheduler_operations_total: API requests and named internal operations; status success|error. */
  operations: Counter<"operation" | "status">;
  /** scheduler_operation_duration_seconds: duration of those operations. */
  operationDuration: Histogram<"operation">;
  /** scheduler_errors_total: operations that failed on the service's side, by error code. */
  errors: Counter<"operation" | "code">;
  /** scheduler_jobs_total: job definitions by status (active|paused|inactive). */
  jobs: Gauge<"status">;
  /** scheduler_active_jobs: executions running in this process right now. */
  activeJobs: Gauge<"job_type">;
  /** scheduler_executions_total: finished executions without the tenant (cheap to aggregate). */
  executions: Counter<"job_type" | "status" | "trigger_type">;
  /** scheduler_failed_jobs_total: executions that ended failed after their last attempt. */
  failedJobs: Counter<"job_type" | "error_type">;
  /** scheduler_lock_acquisitions_total: lock attempts; result acquired|busy|error. */
  lockAcquisitions: Counter<"lock" | "result">;
  /** scheduler_lock_timeouts_total: lock commands that timed out or renewals that came too late. */
  lockTimeouts: Counter<"lock">;
  /** scheduler_memory_usage_bytes: resident set size, read on scrape. */
  memoryUsage: Gauge;
  /** scheduler_cpu_usage_percent: CPU time since the previous scrape over wall time (100 = one core). */
  cpuUsage: Gauge;
  /** scheduler_workers_alive: workers whose heartbeat is current (GET /workers), read on scrape. */
  workersAlive: Gauge;
  /** scheduler_active_connections: open connections by kind: postgres (the pool), redis (this process's clients that are up). */
  activeConnections: Gauge<"kind">;
  /** scheduler_clock_skew_seconds: PostgreSQL clock minus this process's clock (RELIABILITY rule 7). */
  clockSkew: Gauge;
  /** scheduler_tenant_longest_wait_seconds: how long the longest-waiting tenant's oldest parked execution has waited (0: none waits), read on scrape. */
  tenantLongestWait: Gauge;
  /**
   * Runs `read` on every scrape just before `gauge` is exposed, so values that are cheaper
   * to read than to maintain (queue counts, pool sizes) stay current. A read that throws or
   * takes longer than `collectTimeoutMs` leaves the gauge at its last value.
   */
  collectOnScrape(gauge: Gauge<string>, read: () => unknown): void;
}

/** The scheduler's registry also holds the tick and leadership metrics. */
export interface SchedulerMetrics extends Metrics {
  /** scheduler_tick_duration_seconds: one leader tick, claim and enqueue included. */
  tickDuration: Histogram;
  /** scheduler_tick_lag_seconds: how far behind its due slots the leader is (0 when on time). */
  tickLag: Gauge;
  /** scheduler_jobs_fired_total: scheduled slots the leader recorded (execution rows inserted). */
  jobsFired: Counter;
  /** scheduler_leader: 1 while this instance leads, else 0. */
  leader: Gauge<"instance_id">;
  /** scheduler_leader_changes_total: times this instance became leader. */
  leaderChanges: Counter;
  /** scheduler_partitions_dropped_total: history, rollup and audit partitions retention dropped. */
  partitionsDropped: Counter;
}

export interface MetricsOptions {
  process: MetricsProcess;
  /**
   * Label execution series with tenant_id (METRICS_TENANT_LABELS): the exposition then
   * tells each tenant's activity to whoever reads it. (Default: false)
   */
  tenantLabels?: boolean;
  /** Longest a collectOnScrape read may take, in ms. (Default: 2000) */
  collectTimeoutMs?: number;
}

/**
 * A fresh registry with Node's default process metrics and the service's metrics. Pure:
 * nothing is read or served until a scrape (see startMetricsServer).
 */
export function createMetrics(options: MetricsOptions & { process: "scheduler" }): SchedulerMetrics;
export function createMetrics(options: MetricsOptions & { process: "api" | "worker" }): Metrics;
export function createMetrics(options: MetricsOptions): Metrics | SchedulerMetrics;
export function createMetrics(options: MetricsOptions): Metrics | SchedulerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ app: options.process });
  collectDefaultMetrics({ register: registry });
  // Registered below, each in the processes that own it (METRIC_OWNERS).
  const registers: Registry[] = [];
  const timeoutMs = options.collectTimeoutMs ?? 2000;
  const reads = new Map<Gauge<string>, Array<() => unknown>>();
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => {
    const created: Gauge<L> = new Gauge<L>({
      name,
      help,
      labelNames,
      registers,
      collect: () => runReads(reads.get(created as Gauge<string>) ?? [], timeoutMs),
    });
    reads.set(created as Gauge<string>, []);
    return created;
  };

  let cpuAt = process.hrtime.bigint();
  let cpuBase = process.cpuUsage();
  const tenantLabels = options.tenantLabels ?? false;
  const tenant = tenantLabels ? (["tenant_id"] as const) : [];
  const metrics: Metrics = {
    registry,
    tenantLabels,
    jobExecutions: new Counter({
      name: "scheduler_job_executions_total",
      help: `Finished executions by job type, final status (completed, failed, cancelled, skipped)${tenantLabels ? " and tenant" : ""}`,
      labelNames: ["job_type", "status", ...tenant],
      registers,
    }),
    executionDuration: new Histogram({
      name: "scheduler_execution_duration_seconds",
      help: "Run time of finished executions in seconds, retries and backoff included",
      labelNames: ["job_type", ...tenant],
      buckets: EXECUTION_DURATION_BUCKETS,
      registers,
    }),
    queueSize: gauge(
      "scheduler_queue_size",
      "Queue jobs by queue and BullMQ state (waiting, delayed, prioritized, active, paused)",
      ["queue_name", "state"],
    ),
    operations: new Counter({
      name: "scheduler_operations_total",
      help: "API requests (by route pattern) and named internal operations, by outcome (success, error)",
      labelNames: ["operation", "status"],
      registers,
    }),
    operationDuration: new Histogram({
      name: "scheduler_operation_duration_seconds",
      help: "Duration of API requests and internal operations in seconds",
      labelNames: ["operation"],
      buckets: OPERATION_DURATION_BUCKETS,
      registers,
    }),
    errors: new Counter({
      name: "scheduler_errors_total",
      help: "Operations that failed on the service's side (5xx, database or Redis errors), by error code",
      labelNames: ["operation", "code"],
      registers,
    }),
    jobs: gauge("scheduler_jobs_total", "Job definitions by status (active, paused, inactive)", [
      "status",
    ]),
    activeJobs: gauge("scheduler_active_jobs", "Executions running in this process right now", [
      "job_type",
    ]),
    executions: new Counter({
      name: "scheduler_executions_total",
      help: "Finished executions by job type, final status and trigger type (scheduled, manual, retry)",
      labelNames: ["job_type", "status", "trigger_type"],
      registers,
    }),
    failedJobs: new Counter({
      name: "scheduler_failed_jobs_total",
      help: "Executions that ended failed after their last attempt, by job type and error type",
      labelNames: ["job_type", "error_type"],
      registers,
    }),
    lockAcquisitions: new Counter({
      name: "scheduler_lock_acquisitions_total",
      help: "Distributed lock acquisition attempts by lock name and result (acquired, busy, error)",
      labelNames: ["lock", "result"],
      registers,
    }),
    lockTimeouts: new Counter({
      name: "scheduler_lock_timeouts_total",
      help: "Lock commands that timed out, or renewals that came later than the lock's lifetime allows",
      labelNames: ["lock"],
      registers,
    }),
    memoryUsage: new Gauge({
      name: "scheduler_memory_usage_bytes",
      help: "Resident set size of this process in bytes",
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    }),
    cpuUsage: new Gauge({
      name: "scheduler_cpu_usage_percent",
      help: "CPU used by this process since the previous scrape, in percent of one core",
      registers,
      collect() {
        const now = process.hrtime.bigint();
        const wallMicros = Number(now - cpuAt) / 1000;
        if (wallMicros <= 0) return;
        const used = process.cpuUsage(cpuBase);
        this.set(((used.user + used.system) / wallMicros) * 100);
        cpuAt = now;
        cpuBase = process.cpuUsage();
      },
    }),
    workersAlive: gauge(
      "scheduler_workers_alive",
      "Worker processes whose heartbeat is current (three periods), as GET /workers lists them",
    ),
    activeConnections: gauge(
      "scheduler_active_connections",
      "Open connections by kind: postgres (the pool's), redis (this process's clients that are up)",
      ["kind"],
    ),
    clockSkew: gauge(
      "scheduler_clock_skew_seconds",
      "PostgreSQL clock minus this process's clock in seconds (positive: the database is ahead)",
    ),
    tenantLongestWait: gauge(
      "scheduler_tenant_longest_wait_seconds",
      "Tenant fairness: seconds the oldest execution turned away for its tenant's share has waited, over all tenants (0: none waits)",
    ),
    collectOnScrape(target, read) {
      const list = reads.get(target);
      if (!list) throw new Error("collectOnScrape: the gauge is not one of this registry's gauges");
      list.push(read);
    },
  };
  if (options.process !== "scheduler") return registerOwned(metrics, options.process);

  const scheduler: SchedulerMetrics = {
    ...metrics,
    tickDuration: new Histogram({
      name: "scheduler_tick_duration_seconds",
      help: "Duration of one leader tick (claim transaction and enqueue) in seconds",
      buckets: TICK_DURATION_BUCKETS,
      registers,
    }),
    tickLag: gauge(
      "scheduler_tick_lag_seconds",
      "How far behind its due slots the leader is, in seconds: at the end of a tick, now minus the oldest slot it claimed (0 when none was late)",
    ),
    jobsFired: new Counter({
      name: "scheduler_jobs_fired_total",
      help: "Scheduled slots the leader recorded (execution rows inserted)",
      registers,
    }),
    leader: gauge("scheduler_leader", "1 while this scheduler instance holds leadership, else 0", [
      "instance_id",
    ]),
    leaderChanges: new Counter({
      name: "scheduler_leader_changes_total",
      help: "Times this scheduler instance became leader",
      registers,
    }),
    partitionsDropped: new Counter({
      name: "scheduler_partitions_dropped_total",
      help: "Monthly partitions (execution history, rollups, audit trail) dropped by retention",
      registers,
    }),
  };
  return registerOwned(scheduler, options.process);
}

/** Registers each metric of `metrics` that `process` owns (METRIC_OWNERS). */
function registerOwned<M extends Metrics>(metrics: M, process: MetricsProcess): M {
  for (const value of Object.values(metrics)) {
    if (!(value instanceof Counter || value instanceof Gauge || value instanceof Histogram))
      continue;
    const name = (value as unknown as { name: string }).name;
    const owners = METRIC_OWNERS[name];
    if (!owners) throw new Error(`metric ${name} has no entry in METRIC_OWNERS`);
    if (owners.includes(process)) metrics.registry.registerMetric(value);
  }
  return metrics;
}

/** Runs every read, each bounded by timeoutMs; failures leave the gauge as it was. */
async function runReads(list: Array<() => unknown>, timeoutMs: number): Promise<void> {
  await Promise.all(list.map((read) => withTimeout(read, timeoutMs).catch(() => undefined)));
}

function withTimeout(read: () => unknown, timeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
    timer.unref();
  });
  return Promise.race([Promise.resolve().then(read), timeout]).finally(() => clearTimeout(timer));
}

/** What `health` returns: the HTTP status (200 healthy, 503 not) and a JSON body. */
export interface HealthReport {
  status: number;
  body: unknown;
}

export interface MetricsServerOptions {
  /** 0 picks a free port (see MetricsServer.port). */
  port: number;
  /** Bind address (METRICS_HOST): the endpoints have no authentication. (Default: 127.0.0.1) */
  host?: string;
  registry: Registry;
  /**
   * Served at GET /health and GET /readyz when given; answers 503 when it throws or
   * takes over 4 s. GET /livez answers 200 regardless, calling nothing.
   */
  health?: () => Promise<HealthReport>;
}

export interface MetricsServer {
  /** The bound port. */
  port: number;
  /** Stops listening and closes open connections; idempotent. */
  close(): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 4000;

/**
 * Serves GET /metrics (Prometheus text), GET /health and /readyz (the dependency checks)
 * and GET /livez (the process answers; no dependency is called, so an orchestrator does
 * not restart every instance while the database is down) on a plain node:http server.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    handle(options, req, res).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      const message = error instanceof Error ? error.message : String(error);
      send(res, 500, "text/plain; charset=utf-8", `metrics collection failed: ${message}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));
  let closing = false;
  return {
    port: (server.address() as AddressInfo).port,
    close() {
      if (!closing) {
        closing = true;
        server.close();
        server.closeAllConnections();
      }
      return closed;
    },
  };
}

async function handle(
  options: MetricsServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = new URL(req.url ?? "/", "http://localhost").pathname;
  const readable = req.method === "GET" || req.method === "HEAD";
  if (readable && path === "/metrics") {
    const text = await options.registry.metrics();
    return send(res, 200, options.registry.contentType, text);
  }
  if (readable && path === "/livez") {
    return send(res, 200, "application/json", JSON.stringify({ status: "alive" }));
  }
  if (readable && (path === "/health" || path === "/readyz") && options.health) {
    const report = await withTimeout(options.health, HEALTH_TIMEOUT_MS).then(
      (value) => value as HealthReport,
      (error: unknown) => ({
        status: 503,
        body: { status: "unhealthy", error: error instanceof Error ? error.message : "failed" },
      }),
    );
    return send(res, report.status, "application/json", JSON.stringify(report.body));
  }
  const body = {
    error: { code: "NOT_FOUND", message: `Route ${req.method} ${path} not found`, details: {} },
    timestamp: new Date().toISOString(),
    path,
  };
  send(res, 404, "application/json", JSON.stringify(body));
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

/**
 * Keeps `scheduler_clock_skew_seconds` current on scrape: the database clock minus this
 * process's, taken at the midpoint of the round trip (docs/reliability.md, rule 7).
 */
export function trackClockSkew(metrics: Metrics, databaseNow: () => Promise<Date>): void {
  metrics.collectOnScrape(metrics.clockSkew, async () => {
    const before = Date.now();
    const dbNow = await databaseNow();
    metrics.clockSkew.set((dbNow.getTime() - (before + Date.now()) / 2) / 1000);
  });
}

/**
 * Keeps `scheduler_active_connections` current on scrape: the PostgreSQL pool's open
 * connections and this process's Redis connections that are up (ioredis status `ready`).
 */
export function trackConnections(
  metrics: Metrics,
  sources: { postgres: { totalCount: number }; redis: readonly { status: string }[] },
): void {
  metrics.collectOnScrape(metrics.activeConnections, () => {
    metrics.activeConnections.set({ kind: "postgres" }, sources.postgres.totalCount);
    const ready = sources.redis.filter((client) => client.status === "ready").length;
    metrics.activeConnections.set({ kind: "redis" }, ready);
  });
}
