import type { Redis } from "ioredis";
import type pg from "pg";
import { type ApiProcess, cursorAt, percentile, timedGet } from "./api.js";
import { tenantId } from "./load.js";

const DAY_MS = 86_400_000;
const WARMUP = 20;

/** One route as the bench calls it: sample `i` names a tenant and a path. */
export interface Route {
  name: string;
  kind: "list" | "stats";
  pick(i: number): [tenant: string, path: string];
}

export interface Timing {
  route: string;
  kind: "list" | "stats";
  samples: number;
  p50: number;
  p95: number;
  max: number;
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every history and stats route of API.md, each filter on its own, plus two combinations. */
export function routesOf(jobs: Map<string, string[]>, now: Date, start: Date): Route[] {
  const tenants = jobs.size;
  const span = now.getTime() - start.getTime();
  const iso = (ms: number) => new Date(ms).toISOString();
  const route = (
    name: string,
    kind: "list" | "stats",
    path: (job: string, r: () => number) => string,
  ): Route => ({
    name,
    kind,
    pick(i) {
      const r = random(i * 7919 + name.length * 104_729);
      const tenant = tenantId(Math.floor(r() * tenants));
      const ids = jobs.get(tenant)!;
      return [tenant, path(ids[Math.floor(r() * ids.length)]!, r)];
    },
  });
  const anHour = (r: () => number) => {
    const from = start.getTime() + Math.floor(r() * (span - 3_600_000));
    return `from=${iso(from)}&to=${iso(from + 3_600_000)}`;
  };
  return [
    route("GET /executions", "list", () => "/executions"),
    route("GET /executions?status=failed", "list", () => "/executions?status=failed"),
    route("GET /executions?triggerType=manual", "list", () => "/executions?triggerType=manual"),
    route("GET /executions?jobId=…", "list", (job) => `/executions?jobId=${job}`),
    route(
      "GET /executions?from=…&to=… (an hour, anywhere in the month)",
      "list",
      (_, r) => `/executions?${anHour(r)}`,
    ),
    route(
      "GET /executions?cursor=… (a page anywhere in the month)",
      "list",
      (_, r) => `/executions?cursor=${cursorAt(new Date(start.getTime() + r() * span))}`,
    ),
    route(
      "GET /executions?jobId=…&status=failed",
      "list",
      (job) => `/executions?jobId=${job}&status=failed`,
    ),
    route(
      "GET /executions?status=failed&from=…&to=…",
      "list",
      (_, r) => `/executions?status=failed&${anHour(r)}`,
    ),
    route("GET /jobs/{id}/executions", "list", (job) => `/jobs/${job}/executions`),
    route("GET /executions/stats (day: the last 24 h)", "stats", () => "/executions/stats"),
    route(
      "GET /executions/stats (week)",
      "stats",
      () => `/executions/stats?from=${iso(now.getTime() - 7 * DAY_MS)}`,
    ),
    route(
      "GET /executions/stats (month)",
      "stats",
      () => `/executions/stats?from=${iso(now.getTime() - 30 * DAY_MS)}`,
    ),
    route(
      "GET /executions/stats (month from noon: the most rows read one by one)",
      "stats",
      () =>
        `/executions/stats?from=${iso(Math.floor(now.getTime() / DAY_MS) * DAY_MS - 30 * DAY_MS + DAY_MS / 2)}`,
    ),
    route(
      "GET /executions/stats?jobId=… (month)",
      "stats",
      (job) => `/executions/stats?jobId=${job}&from=${iso(now.getTime() - 30 * DAY_MS)}`,
    ),
  ];
}

/** Sequential requests (one at a time): latency as a client sees it, after a warm-up. */
export async function measureRoutes(
  api: ApiProcess,
  routes: Route[],
  samples: number,
): Promise<Timing[]> {
  const timings: Timing[] = [];
  for (const route of routes) {
    for (let i = 0; i < WARMUP; i++) await timedGet(api, ...route.pick(samples + i));
    const ms: number[] = [];
    for (let i = 0; i < samples; i++) ms.push((await timedGet(api, ...route.pick(i))).ms);
    const timing = {
      route: route.name,
      kind: route.kind,
      samples,
      p50: percentile(ms, 0.5),
      p95: percentile(ms, 0.95),
      max: Math.max(...ms),
    };
    console.log(
      `  ${route.name}: p50 ${timing.p50.toFixed(1)} ms, p95 ${timing.p95.toFixed(1)} ms`,
    );
    timings.push(timing);
  }
  return timings;
}

export interface Exactness {
  window: string;
  tenant: string;
  apiTotal: number;
  fullTotal: number;
  countsEqual: boolean;
  apiP95: number | null;
  exactP95: number | null;
  fullCountMs: number;
  apiMs: number;
}

/**
 * The API's stats against the pre-rollup query (every row counted), for a few tenants
 * and windows; the full count's own time is the case for (or against) rollups.
 */
export async function statsAgainstFullCount(
  api: ApiProcess,
  client: pg.Client,
  jobs: Map<string, string[]>,
  now: Date,
): Promise<Exactness[]> {
  const results: Exactness[] = [];
  const windows: [string, number][] = [
    ["day", DAY_MS],
    ["week", 7 * DAY_MS],
    ["month", 30 * DAY_MS],
  ];
  for (const tenantIndex of [3, 42, 77].map((i) => i % jobs.size)) {
    const tenant = tenantId(tenantIndex);
    for (const [window, length] of windows) {
      for (const jobId of [undefined, jobs.get(tenant)![5]]) {
        const to = new Date(now.getTime() - 60_000);
        const from = new Date(to.getTime() - length);
        const query = `from=${from.toISOString()}&to=${to.toISOString()}${jobId ? `&jobId=${jobId}` : ""}`;
        const { ms: apiMs, body } = await timedGet(api, tenant, `/executions/stats?${query}`);
        const stats = body as Record<string, number | null>;
        const started = performance.now();
        const { rows } = await client.query(
          `SELECT count(*)::int AS total,
             count(*) FILTER (WHERE status = 'pending')::int AS pending,
             count(*) FILTER (WHERE status = 'running')::int AS running,
             count(*) FILTER (WHERE status = 'completed')::int AS completed,
             count(*) FILTER (WHERE status = 'failed')::int AS failed,
             count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled,
             count(*) FILTER (WHERE status = 'skipped')::int AS skipped,
             percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms)
               FILTER (WHERE status IN ('completed', 'failed')) AS p95
           FROM job_executions
           WHERE tenant_id = $1 AND scheduled_at >= $2 AND scheduled_at <= $3
             AND ($4::uuid IS NULL OR job_id = $4)`,
          [tenant, from, to, jobId ?? null],
        );
        const fullCountMs = performance.now() - started;
        const full = rows[0] as Record<string, number>;
        const statuses = [
          "total",
          "pending",
          "running",
          "completed",
          "failed",
          "cancelled",
          "skipped",
        ];
        results.push({
          window: jobId ? `${window}, one job` : window,
          tenant,
          apiTotal: stats.total as number,
          fullTotal: full.total!,
          countsEqual: statuses.every((s) => stats[s] === full[s]),
          apiP95: stats.p95DurationMs ?? null,
          exactP95: full.p95 ?? null,
          fullCountMs,
          apiMs,
        });
      }
    }
  }
  return results;
}

export interface CacheFigures {
  configFromPostgres: { p50: number; p95: number };
  configFromRedis: { p50: number; p95: number };
  dayStatsFromApi: { p50: number; p95: number };
}

/**
 * The two proposed caches, measured before building them: a job's config read by id
 * from PostgreSQL against a GET of the same JSON from Redis, and the day's stats as the
 * API answers them (a cache would answer in about a Redis GET plus the HTTP cost).
 */
export async function measureCaches(
  api: ApiProcess,
  client: pg.Client,
  redis: Redis,
  prefix: string,
  jobs: Map<string, string[]>,
): Promise<CacheFigures> {
  const ids = [...jobs.values()].flat();
  const r = random(1);
  const pick = () => ids[Math.floor(r() * ids.length)]!;
  const fromPostgres: number[] = [];
  const fromRedis: number[] = [];
  for (const id of ids.slice(0, 2000)) {
    const { rows } = await client.query("SELECT config FROM scheduled_jobs WHERE id = $1", [id]);
    await redis.set(`${prefix}:bench:job_config:${id}`, JSON.stringify(rows[0].config), "EX", 3600);
  }
  const statement = `SELECT job_type, config, retry_config, timeout_seconds, max_concurrent
    FROM scheduled_jobs WHERE id = $1`;
  for (let i = 0; i < 2200; i++) {
    const id = i < 2000 ? ids[i]! : pick();
    let started = performance.now();
    await client.query(statement, [id]);
    if (i >= 200) fromPostgres.push(performance.now() - started);
    started = performance.now();
    await redis.get(`${prefix}:bench:job_config:${ids[i % 2000]}`);
    if (i >= 200) fromRedis.push(performance.now() - started);
  }
  const day: number[] = [];
  for (let i = 0; i < 200; i++) {
    day.push((await timedGet(api, tenantId(Math.floor(r() * jobs.size)), "/executions/stats")).ms);
  }
  const summary = (ms: number[]) => ({ p50: percentile(ms, 0.5), p95: percentile(ms, 0.95) });
  return {
    configFromPostgres: summary(fromPostgres),
    configFromRedis: summary(fromRedis),
    dayStatsFromApi: summary(day),
  };
}

/**
 * What the rollup trigger adds to a worker's terminal write: single-row running →
 * completed updates with the trigger on and off, in alternating blocks, on executions
 * of a tenant the other measurements do not read.
 */
export async function measureTriggerCost(
  client: pg.Client,
): Promise<{ withTrigger: number; without: number }> {
  const tenant = "00000000-0000-4000-8000-0000ffffffff";
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by)
     VALUES ('trigger cost', '* * * * * *', 'http', '{}', $1, $1) RETURNING id`,
    [tenant],
  );
  const jobId = rows[0]!.id;
  const { rows: executions } = await client.query<{ id: string }>(
    `INSERT INTO job_executions (job_id, tenant_id, execution_id, trigger_type, status, scheduled_at, started_at)
     SELECT $1::uuid, $2::uuid, $1::text || ':cost:' || g, 'manual', 'running', now(), now()
     FROM generate_series(1, 4000) g
     RETURNING id`,
    [jobId, tenant],
  );
  const times = { on: [] as number[], off: [] as number[] };
  for (let block = 0; block < 8; block++) {
    const on = block % 2 === 0;
    await client.query(
      `ALTER TABLE job_executions ${on ? "ENABLE" : "DISABLE"} TRIGGER job_executions_rollup_update`,
    );
    for (const { id } of executions.slice(block * 500, block * 500 + 500)) {
      const started = performance.now();
      await client.query(
        `UPDATE job_executions SET status = 'completed', completed_at = clock_timestamp(),
           duration_ms = 120, progress = 100 WHERE id = $1 AND status = 'running'`,
        [id],
      );
      times[on ? "on" : "off"].push(performance.now() - started);
    }
  }
  await client.query("ALTER TABLE job_executions ENABLE TRIGGER job_executions_rollup_update");
  return { withTrigger: percentile(times.on, 0.5), without: percentile(times.off, 0.5) };
}
