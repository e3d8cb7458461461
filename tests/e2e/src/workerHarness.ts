import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { readdir } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import {
  EXECUTION_QUEUE,
  type ExecutionMessage,
  executionMessage,
  type JobConfig,
  type JobType,
  parseKeyRing,
  queueJobId,
  type RetryConfig,
  redisKeys,
  sealConfig,
} from "@scheduler/core";
import {
  cancelExecution,
  type Db,
  type ExecutionRow,
  jobExecutions,
  scheduledJobs,
} from "@scheduler/db";
import {
  type RunningProcess,
  startApp,
  TEST_CONFIG_ENCRYPTION_KEY,
  type TestDatabase,
  type TestRedis,
  waitFor,
} from "@scheduler/testkit";
import { Queue } from "bullmq";
import { eq } from "drizzle-orm";

/** The test registry of functions, beside this file. */
export const TEST_FUNCTIONS_DIR = fileURLToPath(new URL("./workerFunctions", import.meta.url));

/** A variable only the worker process has: a job must never see it. */
export const WORKER_CANARY = "WORKER_CANARY_SECRET";

/** Starts a worker process and waits until its heartbeat says it takes work. */
export async function startWorker(
  database: TestDatabase,
  testRedis: TestRedis,
  extra: Record<string, string> = {},
): Promise<RunningProcess> {
  const workerId = `w-${randomUUID().slice(0, 8)}`;
  const worker = startApp("worker", {
    DATABASE_URL: database.url,
    REDIS_URL: testRedis.url,
    REDIS_KEY_PREFIX: testRedis.prefix,
    CONFIG_ENCRYPTION_KEY: TEST_CONFIG_ENCRYPTION_KEY,
    HTTP_JOB_ALLOWED_CIDRS: "127.0.0.0/8",
    FUNCTIONS_DIR: TEST_FUNCTIONS_DIR,
    COMMAND_JOB_ALLOWED: "sh,env,sleep",
    COMMAND_JOB_WORKDIR_ROOT: `/tmp/scheduler-e2e-${testRedis.prefix}`,
    CANCEL_KILL_GRACE_MS: "500",
    WORKER_HEARTBEAT_MS: "500",
    WORKER_STALLED_INTERVAL_MS: "1000",
    WORKER_SHUTDOWN_GRACE_MS: "1000",
    WORKER_CONCURRENCY: "10",
    DATABASE_POOL_SIZE: "5",
    LOG_LEVEL: "info",
    NODE_ENV: "test",
    WORKER_ID: workerId,
    [WORKER_CANARY]: "the-worker-own-secret",
    ...extra,
  });
  const key = redisKeys(testRedis.prefix).workerHeartbeat(extra.WORKER_ID ?? workerId);
  await waitFor(async () => (await testRedis.redis.exists(key)) === 1, {
    timeoutMs: 30_000,
    what: `worker heartbeat\n${worker.output()}`,
  });
  return worker;
}

export interface JobSeed {
  jobType: JobType;
  /** Plain config: secret fields are sealed here, as the API stores them. */
  config: JobConfig;
  retryConfig?: RetryConfig;
  timeoutSeconds?: number;
  maxConcurrent?: number;
}

/** Inserts a job and one pending execution of it; returns the execution row. */
export async function seedExecution(db: Db, seed: JobSeed): Promise<ExecutionRow> {
  const tenantId = randomUUID();
  const [job] = await db
    .insert(scheduledJobs)
    .values({
      name: `job-${randomUUID()}`,
      cronExpression: "0 0 0 1 1 *",
      jobType: seed.jobType,
      config: sealConfig(seed.jobType, seed.config, parseKeyRing(TEST_CONFIG_ENCRYPTION_KEY)),
      retryConfig: seed.retryConfig ?? null,
      timeoutSeconds: seed.timeoutSeconds ?? 30,
      maxConcurrent: seed.maxConcurrent ?? 1,
      status: "paused",
      tenantId,
      createdBy: randomUUID(),
    })
    .returning({ id: scheduledJobs.id });
  return addExecution(db, job!.id, tenantId);
}

/** One more pending (manual) execution of a job. */
export async function addExecution(db: Db, jobId: string, tenantId: string): Promise<ExecutionRow> {
  const [row] = await db
    .insert(jobExecutions)
    .values({
      jobId,
      tenantId,
      executionId: `${jobId}:m${randomUUID().slice(0, 13)}`,
      triggerType: "manual",
      status: "pending",
      scheduledAt: new Date(),
    })
    .returning();
  return row!;
}

/** The execution queue of a test's Redis prefix. */
export function executionQueue(testRedis: TestRedis): Queue<ExecutionMessage> {
  return new Queue<ExecutionMessage>(EXECUTION_QUEUE, {
    connection: testRedis.redis,
    prefix: redisKeys(testRedis.prefix).bullPrefix,
  });
}

/** Enqueues executions as the scheduler does: the queue job id derived from the executionId. */
export async function enqueue(
  queue: Queue<ExecutionMessage>,
  ...rows: ExecutionRow[]
): Promise<void> {
  await queue.addBulk(
    rows.map((e) => ({
      name: "execute",
      data: executionMessage(e),
      opts: { jobId: queueJobId(e.executionId), attempts: 1 },
    })),
  );
}

export async function readExecution(db: Db, id: string): Promise<ExecutionRow> {
  const [row] = await db.select().from(jobExecutions).where(eq(jobExecutions.id, id));
  return row!;
}

/** Waits until the execution has one of `statuses`, and returns it. */
export async function waitForStatus(
  db: Db,
  id: string,
  statuses: string[],
  timeoutMs = 20_000,
): Promise<ExecutionRow> {
  return waitFor(
    async () => {
      const row = await readExecution(db, id);
      return statuses.includes(row.status) ? row : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `execution ${id} to be ${statuses.join("|")}` },
  );
}

/** A request a target received, with the execution headers. */
export interface TargetHit {
  executionId: string;
  attempt: number;
  at: number;
}

export type TargetHandler = (hit: TargetHit, res: ServerResponse, req: IncomingMessage) => void;

/** A local HTTP target: `handler` answers, every request is recorded. */
export async function startTarget(handler: TargetHandler) {
  const hits: TargetHit[] = [];
  const server = createServer((req, res) => {
    const hit = {
      executionId: String(req.headers["x-scheduler-execution-id"]),
      attempt: Number(req.headers["x-scheduler-attempt"]),
      at: Date.now(),
    };
    hits.push(hit);
    handler(hit, res, req);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    hitsOf: (executionId: string) => hits.filter((h) => h.executionId === executionId),
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** OS threads of a process (a function job runs in one of the worker's threads). */
export async function threadCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/task`)).length;
}

/**
 * What the API does on cancel, done here: mark the execution `cancelled` in PostgreSQL,
 * then publish its row id on the cancel channel.
 */
export async function cancelAsTheApiDoes(
  db: Db,
  testRedis: TestRedis,
  execution: Pick<ExecutionRow, "id" | "tenantId">,
): Promise<void> {
  const outcome = await cancelExecution(db, execution.tenantId, execution.id);
  if (!outcome.found || !outcome.cancelled) throw new Error("execution was not cancellable");
  await testRedis.redis.publish(redisKeys(testRedis.prefix).cancelChannel, execution.id);
}
