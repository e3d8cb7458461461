/**
 * Worker concurrency: 1000 HTTP executions run at once across two worker processes
 * (WORKER_CONCURRENCY=500 each) against a target on 127.0.0.1 that answers after 1 s.
 * Reports the wall time from enqueueing to the last terminal write, executions/s, and
 * each worker's peak RSS; the median of BENCH_RUNS runs (default 3) with min–max is
 * appended to bench/RESULTS.md. Each run uses a database and a Redis prefix of its own
 * (from @scheduler/testkit) and fresh worker processes, and removes them after.
 *
 *   npx vitest run --config bench/worker-concurrency/vitest.config.ts
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createRequire } from "node:module";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import {
  createTestDatabase,
  createTestRedis,
  TEST_CONFIG_ENCRYPTION_KEY,
  type TestDatabase,
  type TestRedis,
  waitFor,
} from "@scheduler/testkit";
import { expect, test } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const RESULTS = `${REPO_ROOT}bench/RESULTS.md`;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const EXECUTIONS = 1000;
const WORKERS = 2;
const CONCURRENCY_PER_WORKER = 500;
/** Executions are spread over this many jobs (maxConcurrent = their share each). */
const JOBS = Number(process.env.BENCH_JOBS ?? 1000);
/** PostgreSQL connections per worker (DATABASE_POOL_SIZE). */
const POOL_SIZE = Number(process.env.BENCH_POOL_SIZE ?? 20);
const TARGET_DELAY_MS = 1000;

// bullmq is a dependency of the worker, not of the repository root.
const { Queue } = createRequire(`${REPO_ROOT}apps/worker/package.json`)(
  "bullmq",
) as typeof import("bullmq");

interface RunResult {
  wallMs: number;
  perSecond: number;
  completed: number;
  /** Peak RSS (VmHWM) of each worker over its life, MB. */
  peakRssMb: number[];
  /** RSS of each worker when idle, just before the executions were enqueued, MB. */
  idleRssMb: number[];
  /** CPU time each worker spent from enqueue to the last terminal write, ms. */
  workerCpuMs: number[];
  /** startedAt − enqueue instant (database clock), median and last, ms. */
  startLagP50Ms: number;
  startLagMaxMs: number;
}

/** The target: answers 200 after TARGET_DELAY_MS. */
async function startTarget(): Promise<{ server: Server; url: string }> {
  const server = createServer((_req, res) => {
    setTimeout(() => res.end("ok"), TARGET_DELAY_MS);
  });
  // A backlog above the default 511, so 1000 simultaneous connects are not dropped.
  server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 });
  await once(server, "listening");
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/work` };
}

/** JOBS http jobs and EXECUTIONS pending executions of them; returns the queue payloads. */
async function seed(database: TestDatabase, url: string) {
  const perJob = EXECUTIONS / JOBS;
  await database.pool.query(
    `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, max_concurrent, status, tenant_id, created_by)
     SELECT 'bench-' || i, '0 0 0 1 1 *', 'http', $1::jsonb, $2, 'paused', gen_random_uuid(), gen_random_uuid()
     FROM generate_series(1, $3) AS i`,
    [JSON.stringify({ url, method: "GET" }), perJob, JOBS],
  );
  const { rows } = await database.pool.query<{
    id: string;
    job_id: string;
    tenant_id: string;
    execution_id: string;
    scheduled_at: Date;
  }>(
    `INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, status, scheduled_at)
     SELECT j.id, j.tenant_id, j.id || ':b' || n, 'manual', 'pending', now()
     FROM scheduled_jobs j CROSS JOIN generate_series(1, $1) AS n
     RETURNING id, job_id, tenant_id, execution_id, scheduled_at`,
    [perJob],
  );
  return rows.map((r) => ({
    name: "execute",
    data: {
      executionRowId: r.id,
      jobId: r.job_id,
      tenantId: r.tenant_id,
      scheduledAt: r.scheduled_at.toISOString(),
    },
    opts: { jobId: r.execution_id.replaceAll(":", "-"), attempts: 1 },
  }));
}

function startWorker(database: TestDatabase, redis: TestRedis, index: number): ChildProcess {
  return spawn(
    process.execPath,
    ["--conditions=@scheduler/source", "--import", "tsx", "apps/worker/src/main.ts"],
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: redis.prefix,
        CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
        HTTP_JOB_ALLOWED_CIDRS: "127.0.0.0/8",
        WORKER_CONCURRENCY: String(CONCURRENCY_PER_WORKER),
        DATABASE_POOL_SIZE: String(POOL_SIZE),
        WORKER_ID: `bench-worker-${index}`,
        METRICS_PORT: "0",
        LOG_LEVEL: "warn",
        NODE_ENV: "production",
      },
      stdio: ["ignore", "inherit", "inherit"],
    },
  );
}

function rssMb(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? Number.NaN);
  return Math.round(kb / 1024);
}

/** CPU time (utime + stime) of a process, ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function startLag(database: TestDatabase, enqueuedAt: Date) {
  const { rows } = await database.pool.query<{ p50: number; max: number }>(
    `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY lag) AS p50, max(lag) AS max
     FROM (SELECT extract(epoch FROM started_at - $1::timestamptz) * 1000 AS lag FROM job_executions) l`,
    [enqueuedAt],
  );
  return { startLagP50Ms: Number(rows[0]!.p50), startLagMaxMs: Number(rows[0]!.max) };
}

async function finishedCount(database: TestDatabase): Promise<{ done: number; completed: number }> {
  const { rows } = await database.pool.query<{ done: number; completed: number }>(
    `SELECT count(*) FILTER (WHERE status IN ('completed', 'failed', 'cancelled', 'skipped'))::int AS done,
            count(*) FILTER (WHERE status = 'completed')::int AS completed
     FROM job_executions`,
  );
  return rows[0]!;
}

async function oneRun(url: string): Promise<RunResult> {
  const database = await createTestDatabase();
  const redis = createTestRedis();
  const workers: ChildProcess[] = [];
  try {
    const payloads = await seed(database, url);
    for (let i = 0; i < WORKERS; i++) workers.push(startWorker(database, redis, i));
    await waitFor(async () => (await redis.redis.zcard(`${redis.prefix}:workers`)) === WORKERS, {
      timeoutMs: 60_000,
      what: "both workers' heartbeats",
    });
    const idleRssMb = workers.map((w) => rssMb(w.pid!, "VmRSS"));
    const cpuBefore = workers.map((w) => cpuMs(w.pid!));
    const { rows: clock } = await database.pool.query<{ now: Date }>(
      "SELECT clock_timestamp() AS now",
    );
    const queue = new Queue("executions", {
      connection: redis.redis,
      prefix: `${redis.prefix}:bull`,
    });
    const startedAt = performance.now();
    await queue.addBulk(payloads);
    const last = await waitFor(
      async () => {
        const count = await finishedCount(database);
        return count.done === EXECUTIONS ? count : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: "every execution to finish" },
    );
    const wallMs = performance.now() - startedAt;
    const workerCpuMs = workers.map((w, i) => cpuMs(w.pid!) - cpuBefore[i]!);
    const lag = await startLag(database, clock[0]!.now);
    const peakRssMb = workers.map((w) => rssMb(w.pid!, "VmHWM"));
    await queue.close();
    return {
      wallMs,
      perSecond: EXECUTIONS / (wallMs / 1000),
      completed: last.completed,
      peakRssMb,
      idleRssMb,
      workerCpuMs,
      ...lag,
    };
  } finally {
    await Promise.all(
      workers.map(async (w) => {
        if (w.exitCode !== null) return;
        const exited = once(w, "exit");
        w.kill("SIGTERM");
        await exited;
      }),
    );
    await redis.cleanup();
    await database.drop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function summary(values: number[], digits = 0): string {
  const f = (v: number) => v.toFixed(digits);
  return `${f(median(values))} (${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

function report(results: RunResult[], startLoad: string): string {
  const rows = [
    `| wall time, enqueue → last terminal write (ms) | ${summary(results.map((r) => r.wallMs))} |`,
    `| executions/s | ${summary(
      results.map((r) => r.perSecond),
      1,
    )} |`,
    ...Array.from({ length: WORKERS }, (_, i) => [
      `| worker ${i + 1} peak RSS, VmHWM (MB) | ${summary(results.map((r) => r.peakRssMb[i]!))} |`,
      `| worker ${i + 1} idle RSS before the run (MB) | ${summary(results.map((r) => r.idleRssMb[i]!))} |`,
    ]).flat(),
    `| start lag, enqueue → startedAt, median execution (ms) | ${summary(results.map((r) => r.startLagP50Ms))} |`,
    `| start lag, last execution (ms) | ${summary(results.map((r) => r.startLagMaxMs))} |`,
    `| worker CPU during the run, both workers (ms) | ${summary(results.map((r) => r.workerCpuMs.reduce((a, b) => a + b, 0)))} |`,
    `| completed (of ${EXECUTIONS}) | ${summary(results.map((r) => r.completed))} |`,
  ];
  return [
    "",
    "## Worker concurrency: 1000 HTTP executions at once across two workers",
    "",
    `${new Date().toISOString()}, Node ${process.version}, ${RUNS} runs, median (min–max); ` +
      `load average when it started ${startLoad}. ` +
      `${EXECUTIONS} executions of ${JOBS} jobs enqueued in one addBulk; 2 worker processes ` +
      `(dev start: tsx from source) with WORKER_CONCURRENCY=${CONCURRENCY_PER_WORKER} and DATABASE_POOL_SIZE=${POOL_SIZE}; ` +
      `the target on 127.0.0.1 answers each request after ${TARGET_DELAY_MS} ms, so ${TARGET_DELAY_MS} ms is the floor. ` +
      "PostgreSQL, Redis, the target and both workers share one 2-core machine.",
    "",
    "| measure | value |",
    "|---|---|",
    ...rows,
    "",
    "Rerun: `npx vitest run --config bench/worker-concurrency/vitest.config.ts` (BENCH_RUNS=3 by default).",
    "",
  ].join("\n");
}

test(`${EXECUTIONS} concurrent HTTP executions across ${WORKERS} workers`, async () => {
  const startLoad = loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  const target = await startTarget();
  const results: RunResult[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const result = await oneRun(target.url);
      console.log(`run ${run + 1}: ${JSON.stringify(result)}`);
      results.push(result);
    }
  } finally {
    target.server.closeAllConnections();
    target.server.close();
  }
  const section = report(results, startLoad);
  console.log(section);
  if (!existsSync(RESULTS)) writeFileSync(RESULTS, "# Benchmark results\n");
  appendFileSync(RESULTS, section);
  for (const r of results) expect(r.completed).toBe(EXECUTIONS);
});
