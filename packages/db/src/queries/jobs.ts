import { and, desc, eq, getTableColumns, ilike, lt, or, sql } from "drizzle-orm";
import type { Db } from "../client.js";
import { type JobRow, type NewJobRow, scheduledJobs } from "../schema.js";

export async function insertJob(db: Db, values: NewJobRow): Promise<JobRow> {
  const [row] = await db.insert(scheduledJobs).values(values).returning();
  return row!;
}

function prepareFindJob(db: Db) {
  const t = scheduledJobs;
  return db
    .select()
    .from(t)
    .where(and(eq(t.tenantId, sql.placeholder("tenantId")), eq(t.id, sql.placeholder("jobId"))))
    .prepare("find_job");
}

/** findJob's statement per database handle: built once, parsed once per connection. */
const findJobStatements = new WeakMap<Db, ReturnType<typeof prepareFindJob>>();

/**
 * A tenant's job. The API's most frequent read (GET /jobs/{id}, every action's 404
 * check), so it is a named prepared statement: drizzle builds its SQL once instead of
 * per call, and PostgreSQL parses it once per connection.
 */
export async function findJob(
  db: Db,
  tenantId: string,
  jobId: string,
): Promise<JobRow | undefined> {
  let statement = findJobStatements.get(db);
  if (!statement) {
    statement = prepareFindJob(db);
    findJobStatements.set(db, statement);
  }
  const [row] = await statement.execute({ tenantId, jobId });
  return row;
}

export interface JobListFilter {
  status?: string;
  jobType?: string;
  tag?: string;
  /** Substring of the name, case-insensitive. */
  name?: string;
}

/** Position after which a page starts: the last row of the previous page. */
export interface ListCursor {
  createdAt: Date;
  id: string;
}

/** A tenant's jobs, newest first, `limit` rows after `cursor`. */
export async function listJobs(
  db: Db,
  tenantId: string,
  filter: JobListFilter,
  page: { limit: number; cursor?: ListCursor },
): Promise<JobRow[]> {
  const t = scheduledJobs;
  const conditions = [eq(t.tenantId, tenantId)];
  if (filter.status) conditions.push(eq(t.status, filter.status));
  if (filter.jobType) conditions.push(eq(t.jobType, filter.jobType));
  if (filter.tag) conditions.push(sql`${t.tags} @> ${JSON.stringify([filter.tag])}::jsonb`);
  if (filter.name) conditions.push(ilike(t.name, `%${escapeLike(filter.name)}%`));
  if (page.cursor) {
    const { createdAt, id } = page.cursor;
    conditions.push(or(lt(t.createdAt, createdAt), and(eq(t.createdAt, createdAt), lt(t.id, id)))!);
  }
  return db
    .select()
    .from(t)
    .where(and(...conditions))
    .orderBy(desc(t.createdAt), desc(t.id))
    .limit(page.limit);
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export async function countActiveJobs(db: Db): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(scheduledJobs)
    .where(eq(scheduledJobs.status, "active"));
  return row?.n ?? 0;
}

/** The tenant's job with its row locked until the transaction ends. */
export async function lockJob(
  db: Db,
  tenantId: string,
  jobId: string,
): Promise<JobRow | undefined> {
  const [row] = await db
    .select()
    .from(scheduledJobs)
    .where(and(eq(scheduledJobs.tenantId, tenantId), eq(scheduledJobs.id, jobId)))
    .for("update");
  return row;
}

/**
 * Inserts jobs with one statement of one array parameter per column (`unnest`), however
 * many rows: drizzle's VALUES list takes ~0.1 ms of CPU per row of this table to build
 * and a parameter per cell (PostgreSQL allows 65,535). Columns a row leaves undefined
 * take their defaults, so every row must define the same ones; otherwise the rows go
 * through drizzle's VALUES list.
 */
export async function insertJobs(db: Db, values: NewJobRow[]): Promise<JobRow[]> {
  if (values.length === 0) return [];
  const defined = (row: NewJobRow) =>
    (Object.keys(row) as (keyof NewJobRow)[]).filter((key) => row[key] !== undefined);
  const keys = defined(values[0]!);
  const sameKeys = (row: NewJobRow) => {
    const own = defined(row);
    return own.length === keys.length && own.every((key, i) => key === keys[i]);
  };
  if (!values.every(sameKeys)) return db.insert(scheduledJobs).values(values).returning();

  const columns = getTableColumns(scheduledJobs);
  const names = keys.map((key) => sql.identifier(columns[key].name));
  const arrays = keys.map((key) => {
    const column = columns[key];
    const cells = values.map((row) =>
      row[key] === null ? null : column.mapToDriverValue(row[key]),
    );
    return sql`${sql.param(cells)}::${sql.raw(column.getSQLType())}[]`;
  });
  const result = await db.execute<Record<string, unknown>>(
    sql`INSERT INTO ${scheduledJobs} (${sql.join(names, sql`, `)}) SELECT * FROM unnest(${sql.join(arrays, sql`, `)}) RETURNING *`,
  );
  const entries = Object.entries(columns);
  return result.rows.map((raw) => {
    const row: Record<string, unknown> = {};
    for (const [key, column] of entries) {
      const value = raw[column.name];
      row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    return row as JobRow;
  });
}

/** Writes the given columns of a tenant's job, stamping updated_at. */
export async function updateJob(
  db: Db,
  tenantId: string,
  jobId: string,
  values: Partial<NewJobRow>,
): Promise<JobRow | undefined> {
  const [row] = await db
    .update(scheduledJobs)
    .set({ ...values, updatedAt: sql`now()` })
    .where(and(eq(scheduledJobs.tenantId, tenantId), eq(scheduledJobs.id, jobId)))
    .returning();
  return row;
}

export async function deleteJob(db: Db, tenantId: string, jobId: string): Promise<boolean> {
  const rows = await db
    .delete(scheduledJobs)
    .where(and(eq(scheduledJobs.tenantId, tenantId), eq(scheduledJobs.id, jobId)))
    .returning({ id: scheduledJobs.id });
  return rows.length > 0;
}

/** Job counts by status, of one tenant or (without one) of the whole deployment. */
export async function countJobsByStatus(
  db: Db,
  tenantId?: string,
): Promise<Record<string, number>> {
  const rows = await db
    .select({ status: scheduledJobs.status, n: sql<number>`count(*)::int` })
    .from(scheduledJobs)
    .where(tenantId === undefined ? undefined : eq(scheduledJobs.tenantId, tenantId))
    .groupBy(scheduledJobs.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
