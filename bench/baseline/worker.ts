/**
 * The baseline's worker process: a plain BullMQ Worker doing what one of our executions
 * does for an HTTP job, and nothing more: one INSERT of the history row (running), the
 * HTTP GET, one UPDATE of the row (completed or failed). Started by the bench harness
 * with its environment; prints "baseline worker ready" once it listens for jobs.
 *
 *   BASELINE_DATABASE_URL, BASELINE_REDIS_HOST/PORT, BASELINE_PREFIX, BASELINE_QUEUE,
 *   BASELINE_CONCURRENCY, BASELINE_POOL_SIZE, BASELINE_TABLE
 */
import { hostname } from "node:os";
import { type Job, Worker } from "bullmq";
import pg from "pg";

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
const workerId = `baseline-${hostname()}-${process.pid}`;
const pool = new pg.Pool({
  connectionString: env("BASELINE_DATABASE_URL"),
  max: Number(env("BASELINE_POOL_SIZE")),
  application_name: "bench-baseline",
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
    const response = await fetch(url, {
      headers: { "x-scheduler-execution-id": executionId },
      signal: AbortSignal.timeout(300_000),
    });
    const text = await response.text();
    status = response.ok ? "completed" : "failed";
    result = { success: response.ok, result: text, metadata: { statusCode: response.status } };
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

const concurrency = Number(env("BASELINE_CONCURRENCY"));
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
console.log(`baseline worker ready (concurrency ${concurrency})`);

async function shutdown(): Promise<void> {
  await worker.close();
  await pool.end();
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown());
process.once("SIGINT", () => void shutdown());
