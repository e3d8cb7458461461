/**
 * The baseline's worker process: a BullMQ Worker (the latest release, `bullmq-latest`)
 * set up as a careful user tunes one, doing what one of our executions does for an HTTP
 * job and nothing more: one INSERT of the history row (running), the HTTP GET over a
 * keep-alive connection pool, one UPDATE of the row (completed or failed). Started by the
 * bench harness with its environment; prints "baseline worker ready" once it listens.
 *
 *   BASELINE_DATABASE_URL, BASELINE_REDIS_HOST/PORT, BASELINE_PREFIX, BASELINE_QUEUE,
 *   BASELINE_CONCURRENCY, BASELINE_POOL_SIZE, BASELINE_TABLE, BASELINE_TARGET_ORIGIN
 */
import { hostname } from "node:os";
import { type Job, Worker } from "bullmq-latest";
import pg from "pg";
import { Pool } from "undici";

export interface BaselineJobData {
  jobId: string;
  tenantId: string;
  url: string;
}

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

const table = env("BASELINE_TABLE");
if (!/^[a-z_]+$/.test(table)) throw new Error("BASELINE_TABLE must be a plain table name");
const concurrency = Number(env("BASELINE_CONCURRENCY"));
const workerId = `baseline-${hostname()}-${process.pid}`;
const pool = new pg.Pool({
  connectionString: env("BASELINE_DATABASE_URL"),
  max: Number(env("BASELINE_POOL_SIZE")),
  application_name: "bench-baseline",
});
// Open the pool's connections before the first job rather than during a burst.
await Promise.all(
  Array.from({ length: pool.options.max }, async () => (await pool.connect()).release()),
);

/**
 * One keep-alive connection pool to the target's origin, as many connections as jobs
 * run at once, with the timeouts on the pool rather than an AbortSignal per request.
 */
const http = new Pool(env("BASELINE_TARGET_ORIGIN"), {
  connections: concurrency,
  keepAliveTimeout: 4000,
  headersTimeout: 300_000,
  bodyTimeout: 300_000,
});

/** The job scheduler's slot: BullMQ keeps it as prevMillis on each iteration's job. */
function scheduledAtOf(job: Job<BaselineJobData>): Date {
  const prev = (job.opts as { prevMillis?: number }).prevMillis;
  return new Date(prev ?? job.timestamp + (job.delay ?? 0));
}

async function processJob(job: Job<BaselineJobData>): Promise<void> {
  const { jobId, tenantId, url } = job.data;
  const scheduledAt = scheduledAtOf(job);
  const executionId = `${jobId}:${scheduledAt.getTime()}`;
  const inserted = await pool.query<{ id: string }>(
    `INSERT INTO ${table} (job_id, execution_id, trigger_type, status, scheduled_at, started_at, worker_id, tenant_id)
     VALUES ($1, $2, 'scheduled', 'running', $3, clock_timestamp(), $4, $5) RETURNING id`,
    [jobId, executionId, scheduledAt, workerId, tenantId],
  );
  const id = inserted.rows[0]!.id;
  let status = "completed";
  let result: object;
  try {
    const { pathname, search } = new URL(url);
    const response = await http.request({
      method: "GET",
      path: pathname + search,
      headers: { "x-scheduler-execution-id": executionId },
    });
    const text = await response.body.text();
    const ok = response.statusCode >= 200 && response.statusCode < 300;
    status = ok ? "completed" : "failed";
    result = { success: ok, result: text, metadata: { statusCode: response.statusCode } };
  } catch (error) {
    status = "failed";
    result = { success: false, error: (error as Error).message };
  }
  await pool.query(
    `UPDATE ${table} SET status = $2, completed_at = clock_timestamp(),
       duration_ms = GREATEST(0, (EXTRACT(EPOCH FROM clock_timestamp() - started_at) * 1000)::int),
       result = $3, progress = 100
     WHERE id = $1 AND status = 'running'`,
    [id, status, result],
  );
}

const worker = new Worker<BaselineJobData>(env("BASELINE_QUEUE"), processJob, {
  connection: {
    host: env("BASELINE_REDIS_HOST"),
    port: Number(env("BASELINE_REDIS_PORT")),
    maxRetriesPerRequest: null,
  },
  prefix: env("BASELINE_PREFIX"),
  concurrency,
  // The same lock and stall settings as our worker at its defaults.
  lockDuration: 30_000,
  stalledInterval: 30_000,
  maxStalledCount: 1,
});
worker.on("error", (err) => console.error(`worker error: ${err.message}`));
worker.on("failed", (job, err) => console.error(`job ${job?.id} failed: ${err.message}`));
await worker.waitUntilReady();
console.log(`baseline worker ready (concurrency ${concurrency}, pool ${pool.options.max})`);

async function shutdown(): Promise<void> {
  await worker.close();
  await http.close();
  await pool.end();
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown());
process.once("SIGINT", () => void shutdown());
// A bench killed without its cleanup (SIGKILL, a closed pipe) would leave this worker
// holding its PostgreSQL connections: leave when the parent is gone.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown();
}, 1000).unref();
