import { randomUUID } from "node:crypto";
import type { BenchProcess } from "./processes.js";
import type { Scratch } from "./scratch.js";
import { until } from "./stats.js";

/** The tenants bench jobs belong to (the brief's ~100 tenants). */
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
 * Inserts `count` HTTP GET jobs on `targetUrl` straight into scheduled_jobs (the API is
 * the schedules workload's business), spread over the tenants, with `cron` and their
 * first slot at `nextAt` (null and paused: stored but not due).
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
  await scratch.pool.query("ANALYZE scheduled_jobs");
}

export interface OurStack {
  scheduler: BenchProcess;
  worker: BenchProcess;
  api?: BenchProcess;
}

/**
 * Starts the scheduler and the worker (and the API if asked) in the scratch environment
 * and waits until a few executions went through all of them: leader elected, worker
 * consuming, code compiled and warm.
 */
export async function startOurStack(
  scratch: Scratch,
  options: {
    targetUrl: string;
    env?: Record<string, string>;
    withApi?: { port: number };
    cpuProfileDir?: string;
  },
): Promise<OurStack> {
  const env = scratch.appEnv(options.env);
  const profile = options.cpuProfileDir ? { cpuProfileDir: options.cpuProfileDir } : {};
  const scheduler = scratch.startApp("scheduler", env, profile);
  const worker = scratch.startApp("worker", env, profile);
  const api = options.withApi
    ? scratch.startApp("api", { ...env, PORT: String(options.withApi.port) }, profile)
    : undefined;
  await warmUp(scratch, options.targetUrl);
  return api ? { scheduler, worker, api } : { scheduler, worker };
}

const WARM_UP = 20;

async function warmUp(scratch: Scratch, targetUrl: string): Promise<void> {
  const slot = secondAhead(3000);
  await insertJobs(scratch, {
    namePrefix: "warm-",
    count: WARM_UP,
    cron: onceAt(slot),
    nextAt: slot,
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
