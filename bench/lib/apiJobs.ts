import { randomUUID } from "node:crypto";
import { SERVICE_TOKEN } from "./scratch.js";

/** Jobs per call of the internal batch route: its limit. */
const PER_CALL = 1000;

/** The jobs a bench creates: HTTP GETs on the target, one cron for all. */
export interface JobsToCreate {
  /** The tenants, each getting an equal share (the first ones one more when it does not divide). */
  tenants: string[];
  count: number;
  cron: string;
  namePrefix: string;
  targetUrl: string;
  /** Batch calls in flight. (Default: 2, as the schedules workload) */
  parallel?: number;
}

/** How many of `count` jobs tenant `i` of `tenants` gets. */
export function shareOf(i: number, tenants: number, count: number): number {
  return Math.floor(count / tenants) + (i < count % tenants ? 1 : 0);
}

/**
 * Creates the jobs as a platform service does, through `POST /internal/jobs/batch-create`
 * (at most 1000 a call, one tenant a call), `parallel` calls in flight: the API checks
 * each definition, enforces the tenant's quota and computes the first fire. Resolves with
 * the seconds it took.
 */
export async function createThroughApi(apiBase: string, jobs: JobsToCreate): Promise<number> {
  const calls: { tenantId: string; from: number; size: number }[] = [];
  jobs.tenants.forEach((tenantId, i) => {
    const share = shareOf(i, jobs.tenants.length, jobs.count);
    for (let from = 0; from < share; from += PER_CALL)
      calls.push({ tenantId, from, size: Math.min(PER_CALL, share - from) });
  });
  const started = performance.now();
  const lane = async () => {
    for (let call = calls.shift(); call !== undefined; call = calls.shift()) {
      const { tenantId, from, size } = call;
      const body = {
        tenantId,
        createdBy: tenantId,
        jobs: Array.from({ length: size }, (_, i) => ({
          name: `${jobs.namePrefix}${from + i}`,
          cronExpression: jobs.cron,
          jobType: "http",
          config: { url: jobs.targetUrl, method: "GET" },
        })),
      };
      const res = await fetch(`${apiBase}/internal/jobs/batch-create`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-service-token": SERVICE_TOKEN },
        body: JSON.stringify(body),
      });
      if (res.status !== 201)
        throw new Error(`batch-create (${size} jobs): HTTP ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: jobs.parallel ?? 2 }, lane));
  return (performance.now() - started) / 1000;
}

/** `n` fresh tenant ids. */
export const newTenants = (n: number): string[] => Array.from({ length: n }, () => randomUUID());
