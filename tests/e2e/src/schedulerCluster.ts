import { hostname } from "node:os";
import { EXECUTION_QUEUE, queueJobId, redisKeys, type SchedulerHeartbeat } from "@scheduler/core";
import {
  createTestDatabase,
  createTestRedis,
  type RunningProcess,
  startApp,
  stopApp,
  type TestDatabase,
  type TestRedis,
  waitFor,
} from "@scheduler/testkit";
import { type SQL, sql } from "drizzle-orm";

/** Short knobs so that a takeover happens in seconds. */
export const LOCK_TTL_MS = 2000;
const BASE_ENV = {
  NODE_ENV: "test",
  LOG_LEVEL: "debug",
  SCHEDULER_LOCK_TTL_MS: String(LOCK_TTL_MS),
  SCHEDULER_TICK_MS: "200",
  RECONCILE_INTERVAL_MS: "500",
  DATABASE_POOL_SIZE: "4",
};

/** One execution row, instants as epoch ms. */
export interface ExecutionRecord {
  jobId: string;
  executionId: string;
  status: string;
  scheduledAt: number;
  /** The claim transaction's now(). */
  createdAt: number;
}

export interface JobSpec {
  count: number;
  cronExpression: string;
  /** SQL for the first slot, e.g. the next whole second. */
  firstSlot: SQL;
  misfirePolicy?: string;
  /** (Default: 1000, so that executions no worker takes never skip a slot) */
  maxConcurrent?: number;
}

export const NEXT_SECOND = sql`date_trunc('second', now()) + interval '1 second'`;
export const NEXT_EVEN_SECOND = sql`to_timestamp(floor(extract(epoch FROM now()) / 2) * 2 + 2)`;

/**
 * Scheduler processes sharing a database and a Redis prefix of their own (one cluster
 * per test, so tests in a file do not see each other's jobs or leader lock). Jobs are
 * inserted directly; executions are read from the database, queue jobs from Redis.
 */
export class SchedulerCluster {
  readonly processes: RunningProcess[] = [];

  private constructor(
    readonly database: TestDatabase,
    readonly redis: TestRedis,
    private readonly env: Record<string, string>,
  ) {}

  static async create(env: Record<string, string> = {}): Promise<SchedulerCluster> {
    const database = await createTestDatabase();
    const redis = createTestRedis();
    return new SchedulerCluster(database, redis, {
      ...BASE_ENV,
      DATABASE_URL: database.url,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: redis.prefix,
      ...env,
    });
  }

  /** Starts one more scheduler process. */
  start(env: Record<string, string> = {}): RunningProcess {
    const p = startApp("scheduler", { ...this.env, ...env });
    this.processes.push(p);
    return p;
  }

  instanceId(p: RunningProcess): string {
    return `scheduler-${hostname()}-${p.child.pid}`;
  }

  /** The leadership record, when unexpired. */
  async leadership(): Promise<{ lockedBy: string; epoch: number } | undefined> {
    const rows = await this.database.pool.query<{ locked_by: string; epoch: string }>(
      "SELECT locked_by, epoch FROM scheduler_locks WHERE expires_at > now()",
    );
    const row = rows.rows[0];
    return row ? { lockedBy: row.locked_by, epoch: Number(row.epoch) } : undefined;
  }

  /** Waits until `p` is the recorded leader; returns its epoch. */
  async waitForLeader(p: RunningProcess, timeoutMs = 20_000): Promise<number> {
    const id = this.instanceId(p);
    const leadership = await waitFor(
      async () => {
        const l = await this.leadership();
        return l?.lockedBy === id ? l : undefined;
      },
      { timeoutMs, what: `${id} to lead` },
    );
    return leadership.epoch;
  }

  async heartbeat(p: RunningProcess): Promise<SchedulerHeartbeat | undefined> {
    const key = redisKeys(this.redis.prefix).schedulerHeartbeat(this.instanceId(p));
    const json = await this.redis.redis.get(key);
    return json ? (JSON.parse(json) as SchedulerHeartbeat) : undefined;
  }

  /** Inserts jobs straight into the database; returns their ids. */
  async insertJobs(spec: JobSpec): Promise<string[]> {
    const result = await this.database.db.execute<{ id: string }>(sql`
      INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by,
                                  max_concurrent, misfire_policy, next_execution_at)
      SELECT 'e2e-' || i, ${spec.cronExpression}, 'http',
             '{"url":"http://example.com","method":"GET"}'::jsonb,
             gen_random_uuid(), gen_random_uuid(), ${spec.maxConcurrent ?? 1000},
             ${spec.misfirePolicy ?? "fire_once"}, ${spec.firstSlot}
      FROM generate_series(1, ${spec.count}) AS i
      RETURNING id`);
    return result.rows.map((r) => r.id);
  }

  async firstSlotOf(jobId: string): Promise<number> {
    const rows = await this.database.pool.query<{ ms: string }>(
      "SELECT (extract(epoch FROM next_execution_at) * 1000)::bigint AS ms FROM scheduled_jobs WHERE id = $1",
      [jobId],
    );
    return Number(rows.rows[0]!.ms);
  }

  /** Scheduled executions, by slot. */
  async executions(): Promise<ExecutionRecord[]> {
    const rows = await this.database.pool.query<{
      job_id: string;
      execution_id: string;
      status: string;
      scheduled_ms: string;
      created_ms: string;
    }>(`SELECT job_id, execution_id, status,
               (extract(epoch FROM scheduled_at) * 1000)::bigint AS scheduled_ms,
               (extract(epoch FROM created_at) * 1000)::bigint AS created_ms
        FROM job_executions WHERE trigger_type = 'scheduled'
        ORDER BY scheduled_at, job_id`);
    return rows.rows.map((r) => ({
      jobId: r.job_id,
      executionId: r.execution_id,
      status: r.status,
      scheduledAt: Number(r.scheduled_ms),
      createdAt: Number(r.created_ms),
    }));
  }

  /** True when the execution has a job in the BullMQ queue (in any state). */
  async isQueued(executionId: string): Promise<boolean> {
    const { bullPrefix } = redisKeys(this.redis.prefix);
    const key = `${bullPrefix}:${EXECUTION_QUEUE}:${queueJobId(executionId)}`;
    return (await this.redis.redis.exists(key)) === 1;
  }

  /** Every process's output, for a failure message. */
  diagnostics(): string {
    return this.processes
      .map((p) => `--- scheduler pid ${p.child.pid}\n${p.output().slice(-4000)}`)
      .join("\n");
  }

  async close(): Promise<void> {
    for (const p of this.processes) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGCONT");
    }
    await Promise.all(this.processes.map((p) => stopApp(p)));
    await this.database.drop();
    await this.redis.cleanup();
  }
}

/** Runs `body` with a cluster; adds the processes' output to a failure. */
export async function withSchedulerCluster(
  env: Record<string, string>,
  body: (cluster: SchedulerCluster) => Promise<void>,
): Promise<void> {
  const cluster = await SchedulerCluster.create(env);
  try {
    await body(cluster);
  } catch (error) {
    (error as Error).message += `\n${cluster.diagnostics()}`;
    throw error;
  } finally {
    await cluster.close();
  }
}

/** Every second (or `stepMs`) from `fromMs` to `toMs`, both included. */
export function slotRange(fromMs: number, toMs: number, stepMs = 1000): number[] {
  const slots: number[] = [];
  for (let at = fromMs; at <= toMs; at += stepMs) slots.push(at);
  return slots;
}
