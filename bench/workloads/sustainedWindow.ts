import type pg from "pg";
import type { HistoryTable } from "../lib/history.js";

/** What the history says about a window of steady load. Lags in ms. */
export interface WindowFigures {
  /** Executions completed within the window. */
  completed: number;
  executionsPerSecond: number;
  /** Executions failed within the window (the target answers 200: should be 0). */
  failed: number;
  /** Slots in the window recorded skipped (maxConcurrent: the job's previous run was still going). */
  skipped: number;
  /** startedAt − scheduledAt of the executions completed in the window. */
  startLagP50: number;
  startLagP95: number;
  startLagP99: number;
  /** completedAt − scheduledAt (end-to-end) of the same executions. */
  endToEndP50: number;
  endToEndP95: number;
  endToEndP99: number;
}

export async function windowFigures(
  pool: pg.Pool,
  table: HistoryTable,
  from: Date,
  to: Date,
): Promise<WindowFigures> {
  const { rows } = await pool.query(
    `WITH done AS (
       SELECT extract(epoch FROM started_at - scheduled_at) * 1000 AS start_lag,
              extract(epoch FROM completed_at - scheduled_at) * 1000 AS e2e
       FROM ${table}
       WHERE status = 'completed' AND completed_at >= $1 AND completed_at < $2)
     SELECT (SELECT count(*)::int FROM done) AS completed,
            (SELECT count(*)::int FROM ${table}
              WHERE status = 'failed' AND completed_at >= $1 AND completed_at < $2) AS failed,
            (SELECT count(*)::int FROM ${table}
              WHERE status = 'skipped' AND scheduled_at >= $1 AND scheduled_at < $2) AS skipped,
            (SELECT percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY start_lag) FROM done) AS start_lags,
            (SELECT percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY e2e) FROM done) AS e2e`,
    [from, to],
  );
  const r = rows[0];
  const lag = (list: string[] | null, i: number) => Number(list?.[i] ?? Number.NaN);
  const seconds = (to.getTime() - from.getTime()) / 1000;
  return {
    completed: r.completed,
    executionsPerSecond: r.completed / seconds,
    failed: r.failed,
    skipped: r.skipped,
    startLagP50: lag(r.start_lags, 0),
    startLagP95: lag(r.start_lags, 1),
    startLagP99: lag(r.start_lags, 2),
    endToEndP50: lag(r.e2e, 0),
    endToEndP95: lag(r.e2e, 1),
    endToEndP99: lag(r.e2e, 2),
  };
}
