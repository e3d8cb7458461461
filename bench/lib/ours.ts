import { randomUUID } from "node:crypto";
import { createThroughApi, newTenants } from "./apiJobs.js";
import type { BenchProcess } from "./processes.js";
import type { Scratch } from "./scratch.js";
import { until } from "./stats.js";
import { freePort } from "./target.js";

/** The tenants bench jobs belong to (the ~100 tenants the service is sized for; docs/design.md). */
export const TENANTS: string[] = Array.from({ length: 100 }, () => randomUUID());

/** A 6-field cron that fires once, at `slot` (UTC): second minute hour day month. */
export function onceAt(slot: Date): string {
  return `${slot.getUTCSeconds()} ${slot.getUTCMinutes()} ${slot.getUTCHours()} ${slot.getUTCDate()} ${slot.getUTCMonth() + 1} *`;
}

/** The first whole second at least `aheadMs` from now. */
export function secondAhead(aheadMs: number): Date {
  return new Date(Math.ceil((Date.now() + aheadMs) / 1000) * 1000);
}

/**
 * Inserts `count` HTTP GET jobs on `targetUrl` straight into scheduled_jobs, spread over
 * the tenants, with `cron` and their first slot at `nextAt` (null and paused: stored but
 * not due). For benches that need many jobs fast and are not about creating them (the
 * statements trace, the api workload's stored jobs); the throughput workloads create
 * theirs through the API (apiJobs.ts). No ANALYZE: statistics are PostgreSQL's own.
 */
export async function insertJobs(
  scratch: Scratch,
  options: {
    namePrefix: string;
    count: number;
    cron: string;
    nextAt: Date | null;
    targetUrl: string;
  },
): Promise<void> {
  const { namePrefix, count, cron, nextAt, targetUrl } = options;
  await scratch.pool.query(
    `INSERT INTO scheduled_jobs (name, cron_expression, job_type, config, tenant_id, created_by, status, next_execution_at)
     SELECT $1 || i, $2, 'http', jsonb_build_object('url', $3::text, 'method', 'GET'),
            ($4::uuid[])[1 + i % 100], ($4::uuid[])[1 + i % 100],
            CASE WHEN $5::timestamptz IS NULL THEN 'paused' ELSE 'active' END, $5::timestamptz
     FROM generate_series(1, $6::int) AS i`,
    [namePrefix, cron, targetUrl, TENANTS, nextAt?.toISOString() ?? null, count],
  );
}

export interface OurStack {
  scheduler: BenchProcess;
  worker: BenchProcess;
  api: BenchProcess;
  /** `http://127.0.0.1:<port>` of the API. */
  apiBase: string;
}

/**
 * Starts the scheduler, the worker and the API in the scratch environment and waits
 * until a few executions, created through the API in a tenant of their own, went
 * through all of them: leader elected, worker consuming, code compiled and warm.
 */
export async function startOurStack(
  scratch: Scratch,
  options: {
    targetUrl: string;
    env?: Record<string, string>;
    cpuProfileDir?: string;
  },
): Promise<OurStack> {
  const env = scratch.appEnv(options.env);
  const profile = options.cpuProfileDir ? { cpuProfileDir: options.cpuProfileDir } : {};
  const port = await freePort();
  const scheduler = scratch.startApp("scheduler", env, profile);
  const worker = scratch.startApp("worker", env, profile);
  const api = scratch.startApp("api", { ...env, PORT: String(port) }, profile);
  const apiBase = `http://127.0.0.1:${port}`;
  await warmUp(scratch, apiBase, options.targetUrl);
  return { scheduler, worker, api, apiBase };
}

const WARM_UP = 20;

async function warmUp(scratch: Scratch, apiBase: string, targetUrl: string): Promise<void> {
  await until(
    async () => ((await fetch(`${apiBase}/health`).catch(() => undefined))?.ok ? true : undefined),
    "the API to answer /health",
    60_000,
  );
  const slot = secondAhead(4000);
  await createThroughApi(apiBase, {
    tenants: newTenants(1),
    count: WARM_UP,
    cron: onceAt(slot),
    namePrefix: "warm-",
    targetUrl,
  });
  await until(
    async () => {
      const { rows } = await scratch.pool.query(
        "SELECT count(*)::int AS n FROM job_executions WHERE scheduled_at = $1 AND status = 'completed'",
        [slot],
      );
      return rows[0].n >= WARM_UP ? true : undefined;
    },
    "warm-up executions to complete",
    90_000,
  );
}
