import type { Redis } from "ioredis";
import type pg from "pg";

/** Both sides keep job_executions' columns: ours in job_executions, the baseline's in a copy. */
export type HistoryTable = "job_executions" | "baseline_executions";

const TERMINAL = "('completed', 'failed', 'skipped', 'cancelled')";

/** Executions of one slot that have ended. */
export async function countEnded(pool: pg.Pool, table: HistoryTable, slot: Date): Promise<number> {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS n FROM ${table} WHERE scheduled_at = $1 AND status IN ${TERMINAL}`,
    [slot],
  );
  return rows[0].n as number;
}

/** What a burst left in the history. Lags in ms; startLag = startedAt − scheduledAt. */
export interface SlotFigures {
  total: number;
  completed: number;
  /** From the slot to the last completedAt. */
  doneAfterMs: number;
  startLagP50: number;
  startLagP95: number;
  startLagP99: number;
  startLagMax: number;
}

export async function slotFigures(
  pool: pg.Pool,
  table: HistoryTable,
  slot: Date,
): Promise<SlotFigures> {
  const { rows } = await pool.query(
    `SELECT count(*)::int AS total,
            count(*) FILTER (WHERE status = 'completed')::int AS completed,
            extract(epoch FROM max(completed_at) - $1::timestamptz) * 1000 AS done_after_ms,
            percentile_disc(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY lag) AS lags
     FROM (SELECT *, extract(epoch FROM started_at - scheduled_at) * 1000 AS lag
           FROM ${table} WHERE scheduled_at = $1) e`,
    [slot],
  );
  const r = rows[0];
  const lags = (r.lags as string[] | null)?.map(Number) ?? [];
  return {
    total: r.total,
    completed: r.completed,
    doneAfterMs: Number(r.done_after_ms),
    startLagP50: lags[0] ?? Number.NaN,
    startLagP95: lags[1] ?? Number.NaN,
    startLagP99: lags[2] ?? Number.NaN,
    startLagMax: lags[3] ?? Number.NaN,
  };
}

/** This database's counters in pg_stat_database: what a window cost PostgreSQL. */
export interface PgCounters {
  commits: number;
  rollbacks: number;
  inserted: number;
  updated: number;
  fetched: number;
  returned: number;
}

export async function pgCounters(pool: pg.Pool): Promise<PgCounters> {
  const { rows } = await pool.query(
    `SELECT xact_commit AS commits, xact_rollback AS rollbacks, tup_inserted AS inserted,
            tup_updated AS updated, tup_fetched AS fetched, tup_returned AS returned
     FROM pg_stat_database WHERE datname = current_database()`,
  );
  return Object.fromEntries(
    Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]),
  ) as unknown as PgCounters;
}

export function pgDelta(before: PgCounters, after: PgCounters): PgCounters {
  const out = { ...after };
  for (const key of Object.keys(before) as (keyof PgCounters)[])
    out[key] = after[key] - before[key];
  return out;
}

/** Calls per Redis command (INFO commandstats: the whole server, other users included). */
export async function redisCalls(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info("commandstats");
  const calls = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(m[1]!, Number(m[2]));
  return calls;
}

/** The busiest commands between two readings, as `cmd calls` pairs, most first. */
export function redisDelta(
  before: Map<string, number>,
  after: Map<string, number>,
): [string, number][] {
  return [...after]
    .map(([cmd, n]): [string, number] => [cmd, n - (before.get(cmd) ?? 0)])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
}

/** Bytes Redis holds under the prefix (MEMORY USAGE of each key, summed). */
export async function redisBytesUnder(
  redis: Redis,
  prefix: string,
): Promise<{ keys: number; bytes: number }> {
  let cursor = "0";
  let keys = 0;
  let bytes = 0;
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    for (const key of found) {
      keys += 1;
      bytes += (await redis.memory("USAGE", key, "SAMPLES", "0")) ?? 0;
    }
    cursor = next;
  } while (cursor !== "0");
  return { keys, bytes };
}

/** Rows inserted, updated (HOT or not) and deleted per table of this database so far. */
export async function tableWrites(pool: pg.Pool): Promise<Map<string, [number, number, number]>> {
  const { rows } = await pool.query(
    "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables",
  );
  return new Map(
    rows.map((r) => [
      r.relname as string,
      [Number(r.n_tup_ins), Number(r.n_tup_upd), Number(r.n_tup_del)],
    ]),
  );
}

/** `table +ins/~upd/-del` per execution for the tables written between two readings. */
export function describeTableWrites(
  before: Map<string, [number, number, number]>,
  after: Map<string, [number, number, number]>,
  executions: number,
): string {
  const parts: string[] = [];
  for (const [table, [ins, upd, del]] of after) {
    const [ins0, upd0, del0] = before.get(table) ?? [0, 0, 0];
    const d = [ins - ins0, upd - upd0, del - del0].map((n) => n / executions);
    if (d.every((n) => n < 0.01)) continue;
    parts.push(`${table} +${d[0]!.toFixed(2)}/~${d[1]!.toFixed(2)}/-${d[2]!.toFixed(2)}`);
  }
  return parts.join(", ");
}
