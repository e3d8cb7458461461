import { sql } from "drizzle-orm";
import type { Db } from "../client.js";

/**
 * The tables partitioned by month (UTC) on a key, each with a DEFAULT partition
 * (migrations/0001, docs/history.md). Retention drops the three together, so rollups
 * never count executions that are gone.
 */
const PARTITIONED = [
  { table: "job_executions", key: "scheduled_at", type: "timestamptz", hot: true },
  { table: "execution_rollups", key: "day", type: "date", hot: true },
  { table: "audit_events", key: "at", type: "timestamptz", hot: false },
] as const;

/**
 * Autovacuum settings of the tables every run writes (migrations/0002 sets them on
 * `scheduled_jobs` and the partitions that existed; every partition made here gets
 * them too, a partitioned table's own settings being no partition's). Analyzed after
 * 2 % of the rows changed instead of 10 %, vacuumed after 5 % updated or inserted
 * instead of 20 %: statistics keep up with a table that grows from empty, and the
 * visibility map with an insert-only month, whose index-only scans need it.
 */
export const HOT_TABLE_AUTOVACUUM = [
  "autovacuum_analyze_scale_factor=0.02",
  "autovacuum_vacuum_scale_factor=0.05",
  "autovacuum_vacuum_insert_scale_factor=0.05",
];

/** `WITH (…)` for a new partition of `spec`'s table. */
function storageOf(spec: PartitionedTable) {
  return spec.hot ? sql.raw(` WITH (${HOT_TABLE_AUTOVACUUM.join(", ")})`) : sql.raw("");
}
type PartitionedTable = (typeof PARTITIONED)[number];

/** Months after the current one that maintenance keeps a partition ready for. */
export const PARTITION_MONTHS_AHEAD = 3;

/** How long maintenance waits for a table lock before giving up until its next run. */
const LOCK_TIMEOUT = "5s";

export interface PartitionMaintenanceOptions {
  /** The current instant, from the database clock; months are UTC. */
  now: Date;
  /** A partition whose every instant is older than now minus this many days is dropped. */
  retentionDays: number;
  /** Months after the current one that must have a partition. */
  monthsAhead: number;
}

/** One partition of a partitioned table; `from`/`to` null for its DEFAULT partition. */
export interface Partition {
  name: string;
  /** Inclusive lower bound. */
  from: Date | null;
  /** Exclusive upper bound. */
  to: Date | null;
}

/**
 * Creates the partitions of the current month and `monthsAhead` more for each
 * partitioned table (and a DEFAULT partition if one is missing), moves any rows the
 * DEFAULT partition holds into partitions of their own months, and drops the partitions
 * entirely older than `retentionDays`. One transaction under an advisory lock, so
 * concurrent runs (two schedulers, the migrate command) take turns and the later one
 * finds nothing left to do. DDL on a partitioned table takes its ACCESS EXCLUSIVE lock
 * for a moment; `lock_timeout` keeps a long reader from queueing every other query
 * behind that: the run fails and the next one retries. Returns the partitions created
 * and dropped, by name.
 */
export async function maintainPartitions(
  db: Db,
  options: PartitionMaintenanceOptions,
): Promise<{ created: string[]; dropped: string[] }> {
  const created: string[] = [];
  const dropped: string[] = [];
  const cutoff = new Date(options.now.getTime() - options.retentionDays * 86_400_000);
  await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('scheduler:partitions'))`);
    await tx.execute(sql.raw(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`));
    for (const spec of PARTITIONED) {
      let partitions = await listPartitions(tx, spec.table);
      if (!partitions.some((p) => p.from === null)) {
        await tx.execute(
          sql`CREATE TABLE ${sql.identifier(`${spec.table}_default`)} PARTITION OF ${sql.identifier(spec.table)} DEFAULT${storageOf(spec)}`,
        );
        created.push(`${spec.table}_default`);
        partitions = await listPartitions(tx, spec.table);
      }
      const defaultName = partitions.find((p) => p.from === null)!.name;
      const wanted = new Set<number>();
      const current = monthStart(options.now);
      for (let m = 0; m <= options.monthsAhead; m++) wanted.add(addMonths(current, m).getTime());
      for (const month of await monthsInPartition(tx, spec, defaultName))
        wanted.add(month.getTime());
      for (const start of [...wanted].sort((a, b) => a - b)) {
        const from = new Date(start);
        const to = addMonths(from, 1);
        if (partitions.some((p) => p.from && p.to && p.from < to && p.to > from)) continue;
        created.push(await createMonthPartition(tx, spec, defaultName, from));
      }
    }
    for (const spec of PARTITIONED) {
      for (const partition of await listPartitions(tx, spec.table)) {
        if (partition.to && partition.to <= cutoff) {
          await tx.execute(sql`DROP TABLE ${sql.identifier(partition.name)}`);
          dropped.push(partition.name);
        }
      }
    }
  });
  return { created, dropped };
}

/** The partitions of a table with their bounds, oldest first, DEFAULT last. */
export async function listPartitions(db: Db, table: string): Promise<Partition[]> {
  const result = await db.execute<{ name: string; from_at: Date | null; to_at: Date | null }>(sql`
    SELECT name,
      CASE WHEN key_type = 'date'::regtype THEN (bounds[1]::date)::timestamp AT TIME ZONE 'UTC'
           ELSE bounds[1]::timestamptz END AS from_at,
      CASE WHEN key_type = 'date'::regtype THEN (bounds[2]::date)::timestamp AT TIME ZONE 'UTC'
           ELSE bounds[2]::timestamptz END AS to_at
    FROM (
      SELECT c.relname::text AS name,
        regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)') AS bounds,
        (SELECT a.atttypid::regtype FROM pg_partitioned_table pt
           JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
           WHERE pt.partrelid = i.inhparent) AS key_type
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = to_regclass(${table})
    ) p
    ORDER BY from_at NULLS LAST`);
  return result.rows.map((r) => ({
    name: r.name,
    from: r.from_at === null ? null : new Date(r.from_at),
    to: r.to_at === null ? null : new Date(r.to_at),
  }));
}

/** The UTC months of the rows a partition holds (the DEFAULT one: normally none). */
async function monthsInPartition(
  db: Db,
  spec: PartitionedTable,
  partition: string,
): Promise<Date[]> {
  const key = sql.identifier(spec.key);
  const utc = spec.type === "date" ? sql`${key}::timestamp` : sql`${key} AT TIME ZONE 'UTC'`;
  const result = await db.execute<{ month: string }>(sql`
    SELECT DISTINCT to_char(date_trunc('month', ${utc}), 'YYYY-MM') AS month
    FROM ${sql.identifier(partition)}`);
  return result.rows.map((r) => new Date(`${r.month}-01T00:00:00Z`));
}

/**
 * Creates the partition of one month: as a plain table first, filled with the rows of
 * that month the DEFAULT partition holds, then attached. (Creating it as a partition
 * directly fails while the DEFAULT partition holds rows of its range.) Attaching copies
 * the parent's keys, indexes and foreign keys onto it.
 */
async function createMonthPartition(
  db: Db,
  spec: PartitionedTable,
  defaultName: string,
  from: Date,
): Promise<string> {
  const to = addMonths(from, 1);
  const name = `${spec.table}_y${from.getUTCFullYear()}m${String(from.getUTCMonth() + 1).padStart(2, "0")}`;
  const bound = (d: Date) =>
    spec.type === "date"
      ? `'${d.toISOString().slice(0, 10)}'`
      : `'${d.toISOString().slice(0, 10)} 00:00:00+00'`;
  const table = sql.identifier(name);
  const parent = sql.identifier(spec.table);
  const key = sql.identifier(spec.key);
  await db.execute(
    sql`CREATE TABLE ${table} (LIKE ${parent} INCLUDING DEFAULTS)${storageOf(spec)}`,
  );
  await db.execute(sql`
    WITH moved AS (
      DELETE FROM ${sql.identifier(defaultName)}
      WHERE ${key} >= ${sql.raw(bound(from))} AND ${key} < ${sql.raw(bound(to))}
      RETURNING *
    )
    INSERT INTO ${table} SELECT * FROM moved`);
  await db.execute(
    sql`ALTER TABLE ${parent} ATTACH PARTITION ${table} FOR VALUES FROM (${sql.raw(bound(from))}) TO (${sql.raw(bound(to))})`,
  );
  return name;
}

function monthStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

function addMonths(month: Date, count: number): Date {
  return new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + count, 1));
}
