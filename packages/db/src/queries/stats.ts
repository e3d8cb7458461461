import { sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { ownedBy } from "./executions.js";

/** job_id of the rollup rows that sum all of a tenant's jobs. */
export const ALL_JOBS = "00000000-0000-0000-0000-000000000000";

const DAY_MS = 86_400_000;

export interface ExecutionStats {
  total: number;
  pending: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  skipped: number;
  /** Mean duration of completed and failed executions; null when there are none. */
  averageDurationMs: number | null;
  /**
   * 95th percentile (nearest rank) of the same durations, as the midpoint of its
   * duration bucket: exact below 64 ms, within 1.6 % above (durationBucket).
   */
  p95DurationMs: number | null;
  timeouts: number;
  retried: number;
}

/** A half-open span of time, [start, end), in epoch milliseconds. */
type Span = [number, number];

/**
 * Counts and durations of a tenant's executions scheduled in [from, to], in one
 * statement (one snapshot), exactly equal to a count of every row:
 *
 *   stats(window) = rollups(days) − ended rows(days outside the window)
 *                   + pending and running rows(days inside the window)
 *                   + every row(window outside the days)
 *
 * where `days` is the span of whole UTC days whose rollups answer most of the window
 * while reading the fewest rows one by one (cheapestDays). Rollups hold ended
 * executions only (kept by triggers in the writing transaction); the rest is counted live.
 * `now` only guides that choice: rows after it are few (the scheduler's lookahead).
 * Runs without parallel workers.
 */
export async function executionStats(
  db: Db,
  tenantId: string,
  filter: { from: Date; to: Date; jobId?: string },
  now: Date = new Date(),
): Promise<ExecutionStats> {
  // Instants have millisecond precision, so `≤ to` is `< to + 1 ms`.
  const window: Span = [filter.from.getTime(), filter.to.getTime() + 1];
  const days = cheapestDays(window, now.getTime());
  const rows = ownedBy(tenantId, filter.jobId);
  const rowsIn = ([start, end]: Span, sign: 1 | -1) => sql`
      SELECT status, duration_ms, NULL::smallint AS bucket, ${sign}::int AS sign,
        count(*)::int AS executions, 0::bigint AS duration_sum_ms,
        count(*) FILTER (WHERE error_type = 'TIMEOUT')::int AS timeouts,
        count(*) FILTER (WHERE retry_count > 0)::int AS retried
      FROM job_executions
      WHERE ${rows} ${sign < 0 ? sql`AND status IN ('completed', 'failed', 'cancelled', 'skipped')` : sql``}
        AND scheduled_at >= ${iso(start)}::timestamptz AND scheduled_at < ${iso(end)}::timestamptz
      GROUP BY status, duration_ms`;
  const parts = minus(window, days).map((span) => rowsIn(span, 1));
  if (days) {
    parts.push(sql`
      SELECT status, NULL::int AS duration_ms, duration_bucket AS bucket, 1 AS sign,
        sum(executions)::int AS executions, sum(duration_sum_ms)::bigint AS duration_sum_ms,
        sum(timeouts)::int AS timeouts, sum(retried)::int AS retried
      FROM execution_rollups
      WHERE tenant_id = ${tenantId} AND job_id = ${filter.jobId ?? ALL_JOBS}
        AND day >= ${iso(days[0]).slice(0, 10)}::date AND day < ${iso(days[1]).slice(0, 10)}::date
      GROUP BY status, duration_bucket`);
    parts.push(...minus(days, window).map((span) => rowsIn(span, -1)));
    const [start, end] = [Math.max(window[0], days[0]), Math.min(window[1], days[1])];
    parts.push(sql`
      SELECT status, NULL::int AS duration_ms, NULL::smallint AS bucket, 1 AS sign,
        count(*)::int AS executions, 0::bigint AS duration_sum_ms,
        count(*) FILTER (WHERE error_type = 'TIMEOUT')::int AS timeouts,
        count(*) FILTER (WHERE retry_count > 0)::int AS retried
      FROM job_executions
      WHERE ${rows} AND status IN ('pending', 'running')
        AND scheduled_at >= ${iso(start)}::timestamptz AND scheduled_at < ${iso(end)}::timestamptz
      GROUP BY status`);
  }
  return db.transaction(async (tx) => {
    // Each parallel worker starts by loading the catalog of every partition it touches:
    // at 30M rows that start cost ~60 ms to save a few (bench/RESULTS.md), so none.
    await tx.execute(sql`SET LOCAL max_parallel_workers_per_gather = 0`);
    const result = await tx.execute<StatsPart>(sql.join(parts, sql` UNION ALL `));
    return summarise(result.rows);
  });
}

/**
 * The span of whole UTC days to answer from rollups (none if rows alone are cheaper):
 * of the day boundaries just inside or outside each end of the window, the pair that
 * leaves the least time to read row by row, counting time only up to `nowMs` (slots
 * after it are few). A partial first or last day is thus read directly when less than
 * half of it is in the window, and otherwise taken whole from the rollups minus its rows
 * outside the window: at most half a day of rows at each end.
 */
export function cheapestDays(window: Span, nowMs: number): Span | undefined {
  const rowTime = (spans: Span[]) =>
    spans.reduce((sum, [start, end]) => sum + Math.max(0, Math.min(end, nowMs) - start), 0);
  let best: { days?: Span; cost: number } = { cost: rowTime([window]) };
  const floor = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;
  const ceil = (ms: number) => Math.ceil(ms / DAY_MS) * DAY_MS;
  for (const start of new Set([floor(window[0]), ceil(window[0])])) {
    for (const end of new Set([floor(window[1]), ceil(window[1])])) {
      if (start >= end) continue;
      const days: Span = [start, end];
      const cost = rowTime([...minus(window, days), ...minus(days, window)]);
      if (cost < best.cost) best = { days, cost };
    }
  }
  return best.days;
}

/** The parts of `a` outside `b`: none, one or two spans. */
function minus(a: Span, b: Span | undefined): Span[] {
  if (!b || b[1] <= a[0] || b[0] >= a[1]) return [a];
  const parts: Span[] = [];
  if (a[0] < b[0]) parts.push([a[0], b[0]]);
  if (b[1] < a[1]) parts.push([b[1], a[1]]);
  return parts;
}

/** One row of the statement: rows of one (status, duration), or rollups of one (status, bucket). */
type StatsPart = {
  status: string;
  /** 1, or -1 for ended rows taken back out of a day the rollups counted whole. */
  sign: number;
  duration_ms: number | null;
  bucket: number | null;
  executions: number;
  duration_sum_ms: string | number;
  timeouts: number;
  retried: number;
};

function summarise(parts: StatsPart[]): ExecutionStats {
  const counts: Record<string, number> = {};
  const histogram = new Map<number, number>();
  let timeouts = 0;
  let retried = 0;
  let durationCount = 0;
  let durationSum = 0;
  const addDuration = (bucket: number, n: number, sum: number) => {
    histogram.set(bucket, (histogram.get(bucket) ?? 0) + n);
    durationCount += n;
    durationSum += sum;
  };
  for (const part of parts) {
    const n = part.sign * part.executions;
    counts[part.status] = (counts[part.status] ?? 0) + n;
    timeouts += part.sign * part.timeouts;
    retried += part.sign * part.retried;
    if (part.status !== "completed" && part.status !== "failed") continue;
    if (part.bucket !== null) {
      if (part.bucket >= 0) addDuration(part.bucket, n, part.sign * Number(part.duration_sum_ms));
    } else if (part.duration_ms !== null) {
      addDuration(durationBucket(part.duration_ms), n, part.duration_ms * n);
    }
  }
  const count = (status: string) => counts[status] ?? 0;
  return {
    total: Object.values(counts).reduce((a, b) => a + b, 0),
    pending: count("pending"),
    running: count("running"),
    completed: count("completed"),
    failed: count("failed"),
    cancelled: count("cancelled"),
    skipped: count("skipped"),
    averageDurationMs: durationCount === 0 ? null : durationSum / durationCount,
    p95DurationMs: durationCount === 0 ? null : percentileOf(histogram, durationCount, 0.95),
    timeouts,
    retried,
  };
}

/** Nearest-rank percentile `p` (0..1) of `count` durations given by bucket. */
function percentileOf(histogram: Map<number, number>, count: number, p: number): number {
  const rank = Math.max(1, Math.ceil(p * count));
  let seen = 0;
  // Buckets of rows taken back out can net to zero.
  const buckets = [...histogram.keys()].filter((b) => histogram.get(b)! > 0).sort((a, b) => a - b);
  for (const bucket of buckets) {
    seen += histogram.get(bucket)!;
    if (seen >= rank) return bucketMidpoint(bucket);
  }
  return bucketMidpoint(buckets.at(-1)!);
}

/**
 * The rollups' duration bucket, as the SQL function execution_duration_bucket computes
 * it (migrations/0001): exact below 64 ms, then 32 buckets per power of two.
 */
export function durationBucket(durationMs: number): number {
  if (durationMs < 64) return Math.max(0, durationMs);
  const shift = Math.floor(Math.log2(durationMs)) - 5;
  // log2 of a float can land a hair below an exact power of two.
  const e = durationMs >> shift >= 64 ? shift + 1 : durationMs >> shift < 32 ? shift - 1 : shift;
  return 32 * e + (durationMs >> e);
}

/** The whole millisecond nearest the middle of a bucket (the value itself below 64 ms). */
function bucketMidpoint(bucket: number): number {
  if (bucket < 64) return bucket;
  const e = Math.floor(bucket / 32) - 1;
  const low = (bucket - 32 * e) * 2 ** e;
  return low + Math.floor((2 ** e - 1) / 2);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
