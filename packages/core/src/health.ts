import type { HealthReport } from "./metrics.js";

/** A probe must answer within this, or its dependency counts as down. */
export const HEALTH_PROBE_TIMEOUT_MS = 2000;

function bounded<T>(probe: () => Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
    timer.unref();
  });
  return Promise.race([probe(), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs every dependency probe at once, each bounded in time: 200 with all true, 503
 * otherwise (API.md §Health). `extra` adds fields to the body (e.g. metrics); it may
 * use the probes' values, undefined for a failed probe.
 */
export async function checkDependencies<P extends Record<string, () => Promise<unknown>>>(
  service: string,
  probes: P,
  extra: (values: { [K in keyof P]?: Awaited<ReturnType<P[K]>> }) => object = () => ({}),
  timeoutMs = HEALTH_PROBE_TIMEOUT_MS,
): Promise<HealthReport> {
  const names = Object.keys(probes) as (keyof P)[];
  const settled = await Promise.allSettled(names.map((name) => bounded(probes[name]!, timeoutMs)));
  const dependencies: Record<string, boolean> = {};
  const values: { [K in keyof P]?: Awaited<ReturnType<P[K]>> } = {};
  names.forEach((name, i) => {
    const result = settled[i]!;
    dependencies[name as string] = result.status === "fulfilled";
    if (result.status === "fulfilled")
      values[name] = result.value as Awaited<ReturnType<P[typeof name]>>;
  });
  const healthy = Object.values(dependencies).every(Boolean);
  return {
    status: healthy ? 200 : 503,
    body: { status: healthy ? "healthy" : "unhealthy", service, dependencies, ...extra(values) },
  };
}
