import { randomBytes, randomUUID } from "node:crypto";
import { EXECUTION_QUEUE, nextFireTime, parseCron, queueJobId, redisKeys } from "@scheduler/core";
import { runMigrations } from "@scheduler/db";
import {
  type AppName,
  createTestDatabase,
  executionProcesses,
  OwnPostgres,
  OwnRedis,
  signTestJwt,
} from "@scheduler/testkit/harness";
import { Redis } from "ioredis";
import pg from "pg";
import {
  Cluster,
  type DrillProcess,
  JWT_SECRET,
  KNOBS,
  type LeaderEvent,
  resourcesOf,
  SERVICE_TOKEN,
  withTimeout,
} from "./cluster.js";
import { endBoundMs, TERMINAL } from "./invariants.js";
import type {
  DrillRecord,
  ExecutionRecord,
  FaultWindow,
  JobRecord,
  Knobs,
  MisfirePolicy,
  ResourceSample,
  SchedulerOutage,
  SecretScan,
  TargetHit,
} from "./record.js";
import { Sampler, startTarget } from "./recorder.js";

const REDIS_PREFIX = "drill";

/** A CreateJobRequest (API.md), as the drills send it. */
export type JobRequest = Record<string, unknown> & { name: string };

/** What a drill's injection can do and must tell. */
export interface DrillContext {
  cluster: Cluster;
  redis: OwnRedis;
  postgres: OwnPostgres | undefined;
  pool: pg.Pool;
  targetUrl: string;
  secrets: string[];
  knobs: Knobs;
  /** Env of scheduler processes this drill starts (its own knobs included). */
  schedulerEnv: Record<string, string>;
  /** Counts one injected fault. */
  rep(): void;
  fault(window: FaultWindow): void;
  outage(outage: SchedulerOutage): void;
  note(text: string): void;
  expect(what: string, ok: boolean): void;
  sleep(ms: number): Promise<void>;
  random(min: number, max: number): number;
  /** A live API process. */
  api(): DrillProcess;
  /** Calls the tenant API on a live API process; throws on no answer. */
  call(method: string, path: string, body?: unknown, api?: DrillProcess): Promise<Response>;
  /** Creates jobs (internal batch create) for the drill's tenant or `asTenant`; returns their ids by name. */
  createJobs(jobs: JobRequest[], asTenant?: string): Promise<Map<string, string>>;
  /** The scheduler holding the Redis lock (waits up to 30 s for one). */
  leader(): Promise<DrillProcess>;
  /** The first leadership acquired at or after `since` (waits up to `timeoutMs`). */
  leaderSince(since: number, timeoutMs?: number): Promise<LeaderEvent>;
  /** Waits until the execution ends; returns its row. */
  waitForEnd(executionRowId: string, timeoutMs?: number): Promise<ExecutionRecord>;
  /** Whether the execution's queue job waits in the queue's delayed set (a retry's backoff). */
  isDelayed(executionId: string): Promise<boolean>;
  /** The target's requests of one execution so far. */
  hitsOf(executionId: string): TargetHit[];
}

export interface Drill {
  name: string;
  /** The fault, as the summary table names it. */
  fault: string;
  /** Processes of each kind at the start. (Default: 2 api, 2 schedulers, 2 workers) */
  counts?: Partial<Record<AppName, number>>;
  /** Extra environment per kind. */
  env?: Partial<Record<AppName, Record<string, string>>>;
  misfireThresholdMs?: number;
  /** Runs its own PostgreSQL (drills that stop it). */
  ownPostgres?: boolean;
  /** Jobs beyond the standard ones. */
  jobs?: (targetUrl: string, secrets: string[]) => JobRequest[];
  /** Misfire policies of the standard every-second jobs. (Default: fire_once) */
  policies?: MisfirePolicy[];
  /** Injects `reps` faults, one at a time, each healed before the next. */
  inject(ctx: DrillContext, reps: number): Promise<void>;
  /** Quiet time after the last fault: INV-7 wants starts 30 s after a heal. (Default: 32 s) */
  tailMs?: number;
}

export interface RunOptions {
  reps: number;
  /** Each process's whole output goes to `<logDir>/<process>.log`. */
  logDir?: string;
  /** Overrides the drill's quiet time after the last fault (INV-7 needs 30 s). */
  tailMs?: number;
  log?: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ms = (value: Date | string | null): number | null =>
  value === null ? null : new Date(value).getTime();

/** The standard jobs: every-second HTTP jobs carrying secrets, and a command job. */
function standardJobs(targetUrl: string, secrets: string[], policies: MisfirePolicy[]) {
  const jobs: JobRequest[] = [];
  for (const [i, policy] of policies.entries()) {
    jobs.push({
      name: `every-second-${i}-${policy}`,
      cronExpression: "* * * * * *",
      jobType: "http",
      config: {
        url: `${targetUrl}/ok?job=${i}`,
        method: "GET",
        headers: { Authorization: `Bearer ${secrets[0]}`, "X-Api-Key": secrets[1] },
      },
      retryConfig: { maxRetries: 2, retryDelayMs: 200, exponentialBackoff: false },
      timeout: 10,
      maxConcurrent: 3,
      misfirePolicy: policy,
    });
  }
  jobs.push({
    name: "command-every-5s",
    cronExpression: "*/5 * * * * *",
    jobType: "command",
    config: {
      command: "sh",
      args: ["-c", 'echo "token=$DRILL_TOKEN" | wc -c; sleep 0.2'],
      environment: { DRILL_TOKEN: secrets[2] },
    },
    timeout: 10,
    maxConcurrent: 2,
  });
  return jobs;
}

/**
 * Runs one drill: starts PostgreSQL (own when the drill stops it) and an own Redis,
 * the processes, a target and the samplers; creates the jobs; warms up; injects the
 * faults; waits 30 s past the last heal; takes the quiet sample; ends every job's
 * schedule a few seconds ahead and waits for every execution to end; then collects the
 * record and tears everything down.
 */
export async function runDrill(drill: Drill, options: RunOptions): Promise<DrillRecord> {
  const log = options.log ?? (() => {});
  const startedAt = Date.now();
  const knobs: Knobs = {
    lockTtlMs: KNOBS.lockTtlMs,
    lookaheadMs: KNOBS.lookaheadMs,
    tickMs: KNOBS.tickMs,
    misfireThresholdMs: drill.misfireThresholdMs ?? KNOBS.misfireThresholdMs,
  };
  const secrets = [0, 1, 2].map(() => `drill-secret-${randomBytes(12).toString("hex")}`);
  const record: Omit<DrillRecord, "endedAt" | "secrets"> = {
    drill: drill.name,
    fault: drill.fault,
    repetitions: 0,
    startedAt,
    knobs,
    jobs: [],
    executions: [],
    hits: [],
    leaderSamples: [],
    faults: [],
    outages: [],
    apiProbes: [],
    quiet: null,
    resources: [],
    survivors: [],
    expectations: [],
    notes: [],
  };

  const redis = await OwnRedis.start();
  let postgres: OwnPostgres | undefined;
  let dropDatabase: () => Promise<void> = async () => {};
  let databaseUrl: string;
  if (drill.ownPostgres) {
    postgres = await OwnPostgres.start();
    databaseUrl = await postgres.createDatabase("drill");
    await runMigrations(databaseUrl);
  } else {
    const database = await createTestDatabase();
    databaseUrl = database.url;
    dropDatabase = () => database.drop();
  }
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  pool.on("error", () => {});
  const sampleRedis = new Redis(redis.url, {
    commandTimeout: 250,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
  });
  sampleRedis.on("error", () => {});
  const target = await startTarget();
  const schedulerEnv = { MISFIRE_THRESHOLD_MS: String(knobs.misfireThresholdMs) };
  const cluster = new Cluster(
    {
      NODE_ENV: "test",
      LOG_LEVEL: "info",
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: REDIS_PREFIX,
    },
    {
      ...drill.env,
      scheduler: { ...schedulerEnv, ...drill.env?.scheduler },
    },
    secrets,
    options.logDir,
  );
  const tenantId = randomUUID();
  const token = signTestJwt(
    { sub: randomUUID(), tenantId, permissions: ["scheduler:admin"] },
    JWT_SECRET,
  );
  const keys = redisKeys(REDIS_PREFIX);
  const sampler = new Sampler({
    cluster,
    redis: sampleRedis,
    lockKey: keys.leaderLock,
    token,
    secrets,
  });

  const api = () => {
    const live = cluster.live("api").filter((p) => !p.frozen);
    const p = live[Math.floor(Math.random() * live.length)];
    if (!p) throw new Error("no live api process");
    return p;
  };
  const ctx: DrillContext = {
    cluster,
    redis,
    postgres,
    pool,
    targetUrl: target.url,
    secrets,
    knobs,
    schedulerEnv,
    rep: () => {
      record.repetitions += 1;
      log(`  ${drill.name}: fault ${record.repetitions}`);
    },
    fault: (w) => record.faults.push(w),
    outage: (o) => record.outages.push(o),
    note: (text) => record.notes.push(text),
    expect: (what, ok) => record.expectations.push({ what, ok }),
    sleep,
    random: (min, max) => Math.round(min + Math.random() * (max - min)),
    api,
    call: async (method, path, body, onApi) => {
      const p = onApi ?? api();
      return fetch(`http://127.0.0.1:${p.apiPort}/api/v1/scheduler${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      });
    },
    createJobs: async (jobs, asTenant) => {
      const ids = new Map<string, string>();
      for (let i = 0; i < jobs.length; i += 1000) {
        const res = await fetch(`http://127.0.0.1:${api().apiPort}/internal/jobs/batch-create`, {
          method: "POST",
          headers: { "x-service-token": SERVICE_TOKEN, "content-type": "application/json" },
          body: JSON.stringify({
            tenantId: asTenant ?? tenantId,
            createdBy: randomUUID(),
            jobs: jobs.slice(i, i + 1000),
          }),
          signal: AbortSignal.timeout(120_000),
        });
        if (res.status !== 201) throw new Error(`batch create: ${res.status} ${await res.text()}`);
        const created = (await res.json()) as { jobs: { id: string; name: string }[] };
        for (const j of created.jobs) ids.set(j.name, j.id);
      }
      return ids;
    },
    leader: async () => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const value = await sampleRedis.get(keys.leaderLock).catch(() => null);
        const p = value ? cluster.byInstance(value.split("|")[0]!) : undefined;
        if (p && p.exitedAt === undefined && !p.frozen) return p;
        if (Date.now() > deadline) throw new Error("no leader for 30 s");
        await sleep(100);
      }
    },
    leaderSince: async (since, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const event = cluster.leaderEvents.find((e) => e.at >= since);
        if (event) return event;
        if (Date.now() > deadline) throw new Error(`no leadership acquired since ${since}`);
        await sleep(50);
      }
    },
    waitForEnd: async (id, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const rows = await readExecutions(pool, id).catch(() => []);
        if (rows[0] && TERMINAL.has(rows[0].status)) return rows[0];
        if (Date.now() > deadline) throw new Error(`execution ${id} did not end`);
        await sleep(200);
      }
    },
    isDelayed: async (executionId) => {
      const delayed = `${keys.bullPrefix}:${EXECUTION_QUEUE}:delayed`;
      return (await sampleRedis.zscore(delayed, queueJobId(executionId))) !== null;
    },
    hitsOf: (executionId) => target.hits.filter((h) => h.executionId === executionId),
  };

  const counts = { api: 2, scheduler: 2, worker: 2, ...drill.counts };
  try {
    log(
      `${drill.name}: starting ${counts.api} api, ${counts.scheduler} schedulers, ${counts.worker} workers`,
    );
    const starting: Promise<DrillProcess>[] = [];
    for (const kind of ["api", "scheduler", "worker"] as const) {
      for (let i = 1; i <= counts[kind]; i++)
        starting.push(cluster.startReady(kind, `${kind}-${i}`));
    }
    await Promise.all(starting);
    if (counts.scheduler > 0) await ctx.leader();
    await ctx.createJobs([
      ...standardJobs(
        target.url,
        secrets,
        drill.policies ?? ["fire_once", "fire_once", "fire_once", "fire_once"],
      ),
      ...(drill.jobs?.(target.url, secrets) ?? []),
    ]);
    sampler.start();
    await sleep(6000);
    const baseline = new Map<number, { rssKb: number; fds: number }>();
    for (const p of cluster.live()) {
      const r = await resourcesOf(p.pid);
      if (r) baseline.set(p.pid, r);
    }
    log(`${drill.name}: injecting ${options.reps} faults`);
    await drill.inject(ctx, options.reps);
    const tailMs = options.tailMs ?? drill.tailMs ?? 32_000;
    log(`${drill.name}: healed; ${Math.round(tailMs / 1000)} s of quiet`);
    await sleep(tailMs);

    record.quiet = await quietSample(pool);
    const drainAt = Date.now();
    const ends = await pool.query<{ id: string; end_date: Date }>(
      `UPDATE scheduled_jobs SET end_date = date_trunc('second', now()) + interval '3 seconds'
       WHERE status = 'active' RETURNING id, end_date`,
    );
    const endDates = new Map(ends.rows.map((r) => [r.id, r.end_date.getTime()]));
    const jobs = await readJobs(pool, endDates, drainAt);
    const bound = Math.max(...jobs.map(endBoundMs));
    const lastEnd = Math.max(drainAt, ...endDates.values());
    log(`${drill.name}: draining (up to ${Math.round(bound / 1000)} s)`);
    await waitForDrain(pool, lastEnd + 2500, Date.now() + bound + 5000);
    await sampler.stop();
    const died = cluster.unexpectedExits();
    record.expectations.push({
      what: `no process exited on its own${died.length ? `: ${died.map((p) => `${p.name} (pid ${p.pid})`).join(", ")}` : ""}`,
      ok: died.length === 0,
    });

    record.jobs = jobs;
    record.executions = await readExecutions(pool);
    record.hits = target.hits;
    record.leaderSamples = sampler.leaderSamples;
    record.apiProbes = sampler.probes;
    const ids = new Set(record.executions.map((e) => e.executionId));
    record.survivors = (await executionProcesses()).filter((p) => ids.has(p.executionId));
    record.resources = await endResources(cluster, baseline);
    const scanRedis = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const secretScan = await scanSecrets(pool, scanRedis, secrets);
    scanRedis.disconnect();
    secretScan.logBytes = cluster.logBytes;
    secretScan.apiResponses = sampler.responses;
    secretScan.found.push(...cluster.leaks, ...sampler.leaks);
    return { ...record, endedAt: Date.now(), secrets: secretScan };
  } catch (error) {
    (error as Error).message += `\n${cluster.diagnostics()}`;
    throw error;
  } finally {
    await sampler.stop();
    await cluster.stopAll();
    target.close();
    sampleRedis.disconnect();
    await pool.end().catch(() => {});
    await dropDatabase().catch(() => {});
    await redis.dispose();
    await postgres?.dispose();
    log(`${drill.name}: done in ${Math.round((Date.now() - startedAt) / 1000)} s`);
  }
}

async function quietSample(pool: pg.Pool) {
  const rows = await pool.query<{ id: string; status: string; next: Date | null; now: Date }>(
    "SELECT id, status, next_execution_at AS next, now() AS now FROM scheduled_jobs",
  );
  return {
    at: Date.now(),
    databaseNow: rows.rows[0]?.now.getTime() ?? Date.now(),
    jobs: rows.rows.map((r) => ({ id: r.id, status: r.status, nextExecutionAt: ms(r.next) })),
  };
}

async function readJobs(
  pool: pg.Pool,
  endDates: Map<string, number>,
  drainAt: number,
): Promise<JobRecord[]> {
  const rows = await pool.query<{
    id: string;
    name: string;
    job_type: string;
    cron_expression: string;
    timezone: string;
    misfire_policy: MisfirePolicy;
    status: string;
    timeout_seconds: number;
    retry_config: {
      maxRetries?: number;
      retryDelayMs?: number;
      exponentialBackoff?: boolean;
      maxRetryDelayMs?: number;
    } | null;
    created_at: Date;
    end_date: Date | null;
  }>("SELECT * FROM scheduled_jobs");
  return rows.rows.map((r) => {
    const first = nextFireTime(parseCron(r.cron_expression, r.timezone), r.created_at);
    return {
      id: r.id,
      name: r.name,
      jobType: r.job_type,
      cronExpression: r.cron_expression,
      timezone: r.timezone,
      misfirePolicy: r.misfire_policy,
      status: r.status,
      timeoutSeconds: r.timeout_seconds,
      maxRetries: r.retry_config?.maxRetries ?? 0,
      retryDelayMs: r.retry_config?.retryDelayMs ?? 0,
      exponentialBackoff: r.retry_config?.exponentialBackoff ?? false,
      maxRetryDelayMs: r.retry_config?.maxRetryDelayMs ?? null,
      firstSlotAt: first?.getTime() ?? null,
      lastSlotAt: endDates.get(r.id) ?? ms(r.end_date) ?? drainAt,
    };
  });
}

export async function readExecutions(pool: pg.Pool, id?: string): Promise<ExecutionRecord[]> {
  const epoch = (column: string) => `(extract(epoch FROM ${column}) * 1000)::bigint`;
  const rows = await pool.query(
    `SELECT id, job_id, execution_id, trigger_type, status, retry_count, error_type,
            ${epoch("scheduled_at")} AS scheduled, ${epoch("created_at")} AS created,
            ${epoch("started_at")} AS started, ${epoch("completed_at")} AS completed
     FROM job_executions ${id ? "WHERE id = $1" : ""}`,
    id ? [id] : [],
  );
  const n = (v: string | null) => (v === null ? null : Number(v));
  return rows.rows.map((r) => ({
    id: r.id,
    jobId: r.job_id,
    executionId: r.execution_id,
    triggerType: r.trigger_type,
    status: r.status,
    scheduledAt: Number(r.scheduled),
    createdAt: Number(r.created),
    startedAt: n(r.started),
    completedAt: n(r.completed),
    retryCount: r.retry_count,
    errorType: r.error_type,
  }));
}

/** Waits until every slot up to `slotsUntil` can be recorded and nothing is in flight. */
async function waitForDrain(pool: pg.Pool, slotsUntil: number, deadline: number) {
  for (;;) {
    const open = await pool
      .query<{ n: string }>(
        "SELECT count(*) AS n FROM job_executions WHERE status IN ('pending', 'running')",
      )
      .then((r) => Number(r.rows[0]!.n))
      .catch(() => -1);
    if (open === 0 && Date.now() > slotsUntil) return;
    if (Date.now() > deadline) return;
    await sleep(500);
  }
}

async function endResources(
  cluster: Cluster,
  baseline: Map<number, { rssKb: number; fds: number }>,
): Promise<ResourceSample[]> {
  const samples: ResourceSample[] = [];
  for (const p of cluster.live()) {
    const before = baseline.get(p.pid);
    const end = await resourcesOf(p.pid);
    if (before && end) samples.push({ process: p.name, baseline: before, end });
  }
  return samples;
}

/** Looks for the secrets in every table and every Redis key. */
async function scanSecrets(pool: pg.Pool, redis: Redis, secrets: string[]): Promise<SecretScan> {
  const scan: SecretScan = {
    postgresRows: 0,
    redisKeys: 0,
    logBytes: 0,
    apiResponses: 0,
    found: [],
  };
  const patterns = secrets.map((s) => `%${s}%`);
  const tables = await pool.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
  );
  for (const { tablename } of tables.rows) {
    const r = await pool.query<{ n: string; hits: string }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE t::text LIKE ANY($1)) AS hits FROM "${tablename}" t`,
      [patterns],
    );
    scan.postgresRows += Number(r.rows[0]!.n);
    if (Number(r.rows[0]!.hits) > 0) scan.found.push(`postgres:${tablename}`);
  }
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "COUNT", 500);
    cursor = next;
    for (const key of keys) {
      scan.redisKeys += 1;
      const type = await redis.type(key);
      let text = "";
      if (type === "string") text = (await redis.get(key)) ?? "";
      else if (type === "hash") text = JSON.stringify(await redis.hgetall(key));
      else if (type === "list") text = (await redis.lrange(key, 0, -1)).join("\n");
      else if (type === "set") text = (await redis.smembers(key)).join("\n");
      else if (type === "zset") text = (await redis.zrange(key, 0, -1)).join("\n");
      else if (type === "stream") text = JSON.stringify(await redis.xrange(key, "-", "+"));
      if (secrets.some((s) => text.includes(s))) scan.found.push(`redis:${key}`);
    }
  } while (cursor !== "0");
  return scan;
}

export { withTimeout };
