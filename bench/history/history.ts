/**
 * Execution history at scale (issue 8): 30 days of history for 100 tenants × 100 jobs,
 * 1M executions a day (30M rows), loaded into a database of its own; then p50/p95 of
 * each history and stats route through the API over real HTTP, the stats checked against
 * full counts, the two proposed caches (job config, daily stats) measured, the rollup trigger's cost on a
 * terminal write, and the plans PostgreSQL used (auto_explain). The database and the
 * Redis keys are removed afterwards, Ctrl-C included. Takes ~45 min on 2 cores.
 *
 *   node --conditions=@scheduler/source --import tsx bench/history/history.ts
 *     [--days 30] [--tenants 100] [--samples 200] [--quiet-wait 600] [--no-append]
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { parseArgs, promisify } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import { machineBusyPercent, waitForQuietMachine } from "../lib/quiet.js";
import { type ApiProcess, REPO_ROOT, startApi, timedGet } from "./api.js";
import {
  createPastPartitions,
  indexesOf,
  insertDay,
  JOBS_PER_TENANT,
  jobsOfTenants,
  seedJobs,
  TENANTS,
} from "./load.js";
import {
  measureCaches,
  measureRoutes,
  measureTriggerCost,
  routesOf,
  statsAgainstFullCount,
} from "./measure.js";
import { PlanCapture } from "./plans.js";
import { writeSection } from "./report.js";

const { values: args } = parseArgs({
  options: {
    days: { type: "string", default: "30" },
    /** Fewer tenants, same history per tenant: re-checks a tenant's routes on a smaller load. */
    tenants: { type: "string", default: String(TENANTS) },
    samples: { type: "string", default: "200" },
    "no-append": { type: "boolean", default: false },
    /** Longest wait for the shared machine to quieten before measuring, in seconds. */
    "quiet-wait": { type: "string", default: "600" },
  },
});
const DAYS = Number(args.days);
const TENANT_COUNT = Number(args.tenants);
const SAMPLES = Number(args.samples);
const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const DAY_MS = 86_400_000;

const database = `bench_history_${randomBytes(5).toString("hex")}`;
const redisPrefix = `benchhist${randomBytes(4).toString("hex")}`;
const databaseUrl = (() => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
})();
const admin = new pg.Client({ connectionString: ADMIN_URL });
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
let api: ApiProcess | undefined;
let cleaned = false;

async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await api?.stop().catch(() => undefined);
  await admin
    .query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
    .catch((e: Error) => console.error(`drop ${database} failed: ${e.message}`));
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${redisPrefix}:*`, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== "0");
  redis.disconnect();
  await admin.end();
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: dropping ${database}`);
    void cleanup().finally(() => process.exit(130));
  });
}

const seconds = (startedAt: number) => (performance.now() - startedAt) / 1000;
const log = (message: string) =>
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

async function load(client: pg.Client) {
  const { rows } = await client.query<{ now: Date }>("SELECT now() AS now");
  const now = rows[0]!.now;
  const start = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - DAYS * DAY_MS);
  await createPastPartitions(client, start, now);
  await seedJobs(client, TENANT_COUNT);
  const indexes = await indexesOf(client, ["job_executions", "execution_rollups"]);
  for (const index of indexes) await client.query(index.drop);
  await client.query("SET session_replication_role = replica");
  await client.query("SET work_mem = '256MB'");
  const perDay: number[] = [];
  let executions = 0;
  let rollups = 0;
  const loadStarted = performance.now();
  for (let day = 0; day <= DAYS; day++) {
    const started = performance.now();
    const inserted = await insertDay(client, start, day, now);
    perDay.push(seconds(started));
    executions += inserted.executions;
    rollups += inserted.rollups;
    log(
      `day ${day}: ${inserted.executions} rows in ${perDay.at(-1)!.toFixed(1)} s (${executions} total)`,
    );
  }
  const loadSeconds = seconds(loadStarted);
  await client.query("RESET session_replication_role");
  const indexStarted = performance.now();
  await client.query("SET maintenance_work_mem = '1GB'");
  for (const index of indexes) {
    const started = performance.now();
    await client.query(index.create);
    log(`${index.name} built in ${seconds(started).toFixed(0)} s`);
  }
  const indexSeconds = seconds(indexStarted);
  const rebuilt = await indexesOf(client, ["job_executions", "execution_rollups"]);
  // Deparsing `status IN (…)` again moves its casts around; the rest must match exactly.
  const normal = (list: typeof indexes) =>
    JSON.stringify(list.map((i) => i.create.replace(/::[a-z ]+(\[\])?|[() ]/g, "")));
  if (normal(rebuilt) !== normal(indexes)) {
    throw new Error(
      `indexes differ after the rebuild:\n${JSON.stringify({ indexes, rebuilt }, null, 1)}`,
    );
  }
  const vacuumStarted = performance.now();
  await client.query("VACUUM (ANALYZE) job_executions");
  await client.query("VACUUM (ANALYZE) execution_rollups");
  await client.query("ANALYZE scheduled_jobs");
  const vacuumSeconds = seconds(vacuumStarted);
  log(
    `loaded ${executions} executions, ${rollups} rollup rows in ${loadSeconds.toFixed(0)} s; indexes ${indexSeconds.toFixed(0)} s; vacuum ${vacuumSeconds.toFixed(0)} s`,
  );
  return { now, start, executions, rollups, loadSeconds, indexSeconds, vacuumSeconds, perDay };
}

async function sizes(client: pg.Client) {
  const { rows } = await client.query<{
    name: string;
    rows: string;
    heap: string;
    indexes: string;
  }>(`
    SELECT c.relname AS name, c.reltuples::bigint::text AS rows,
      pg_size_pretty(pg_relation_size(c.oid)) AS heap,
      pg_size_pretty(pg_indexes_size(c.oid)) AS indexes
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent IN ('job_executions'::regclass, 'execution_rollups'::regclass)
      AND c.relkind = 'r' AND pg_relation_size(c.oid) > 0
    ORDER BY c.relname`);
  return rows;
}

async function main(): Promise<void> {
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  log(`database ${database}: migrating (pnpm migrate: migrations, then partition maintenance)`);
  await promisify(execFile)("pnpm", ["--silent", "--filter", "@scheduler/db", "migrate"], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
  });
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const loaded = await load(client);
    const tableSizes = await sizes(client);
    const jobs = await jobsOfTenants(client);
    const routes = routesOf(jobs, loaded.now, loaded.start);

    api = await startApi(databaseUrl, redisPrefix);
    const busyBefore = await waitForQuietMachine(30, Number(args["quiet-wait"]) * 1000);
    log(`measuring routes (machine ${busyBefore.toFixed(0)} % busy)`);
    const timings = await measureRoutes(api, routes, SAMPLES);
    log("checking stats against full counts");
    const exactness = await statsAgainstFullCount(api, client, jobs, loaded.now);
    log("measuring the proposed caches and the rollup trigger");
    const caches = await measureCaches(api, client, redis, redisPrefix, jobs);
    const trigger = await measureTriggerCost(client);
    const busyAfter = await machineBusyPercent(5000);
    await api.stop();
    api = undefined;

    let plans: { route: string; plans: string[] }[] = [];
    const logFile = await PlanCapture.locate(admin);
    if (logFile) {
      log("capturing plans (auto_explain)");
      await PlanCapture.enable(admin, database);
      api = await startApi(databaseUrl, redisPrefix);
      const capture = new PlanCapture(logFile, database);
      for (const route of routes) {
        const [tenant, path] = route.pick(0);
        await timedGet(api, tenant, path);
        capture.mark();
        await timedGet(api, tenant, path);
        await new Promise((resolve) => setTimeout(resolve, 300));
        plans.push({ route: route.name, plans: capture.take() });
      }
      await api.stop();
      api = undefined;
    } else {
      plans = [];
      log("server log not readable: no plans captured");
    }

    writeSection(
      {
        command: "node --conditions=@scheduler/source --import tsx bench/history/history.ts",
        tenants: TENANT_COUNT,
        jobsPerTenant: JOBS_PER_TENANT,
        days: DAYS,
        loaded,
        tableSizes,
        timings,
        exactness,
        caches,
        trigger,
        plans,
        busy: { before: busyBefore, after: busyAfter },
        serverSettings: await serverSettings(client),
      },
      !args["no-append"],
    );
  } finally {
    await client.end();
  }
}

async function serverSettings(client: pg.Client): Promise<string> {
  const { rows } = await client.query(`
    SELECT string_agg(name || ' ' || setting || coalesce(unit, ''), ', ' ORDER BY name) AS s
    FROM pg_settings WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit')`);
  return `${(await client.query("SHOW server_version")).rows[0].server_version} (${rows[0].s})`;
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
