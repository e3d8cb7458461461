import { randomUUID } from "node:crypto";
import {
  and,
  desc,
  eq,
  getTableColumns,
  ilike,
  lt,
  or,
  type SQL,
  type SQLChunk,
  sql,
} from "drizzle-orm";
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
 * Inserts jobs with one statement whose rows travel as one JSON document
 * (`jsonb_to_recordset`), however many: drizzle's VALUES list takes ~0.1 ms of CPU per
 * row of this table to build and a parameter per cell (PostgreSQL allows 65,535), and
 * one text array per column costs a JSON.stringify per jsonb cell plus its escaping
 * into the array literal. JSON.stringify of the rows as given writes every cell the
 * way PostgreSQL reads it (instants as ISO strings, jsonb values nested as they are).
 * Only the columns the rows left to their defaults come back (`RETURNING`): the rest of
 * each row is what was sent. Columns a row leaves undefined take their defaults, so
 * every row must define the same ones; otherwise the rows go through drizzle's VALUES
 * list (without `options`).
 *
 * With `maxJobsPerTenant`, the statement sets `scheduler.tenant_max_jobs` for its
 * transaction, and tenant_job_counts' trigger refuses an insert that takes a tenant past
 * it (SQLSTATE SJ001, see tenantQuotaExceeded). `alongside` is a data-modifying
 * statement (an audit event) run in the same statement. Outside a transaction, the
 * tenant's counter row is then locked only while the statement commits.
 */
export async function insertJobs(
  db: Db,
  values: NewJobRow[],
  options: { maxJobsPerTenant?: number; alongside?: SQL } = {},
): Promise<JobRow[]> {
  if (values.length === 0) return [];
  const keys = (Object.keys(values[0]!) as (keyof NewJobRow)[]).filter(
    (key) => values[0]![key] !== undefined,
  );
  if (!values.every((row) => definesExactly(row, keys))) {
    if (options.maxJobsPerTenant !== undefined || options.alongside) {
      throw new Error("insertJobs with options: every row must define the same columns");
    }
    return db.insert(scheduledJobs).values(values).returning();
  }
  // The id pairs each returned row with the one sent (RETURNING promises no order).
  const rows = keys.includes("id") ? values : values.map((row) => ({ id: randomUUID(), ...row }));
  if (!keys.includes("id")) keys.unshift("id");

  const columns = getTableColumns(scheduledJobs);
  const returned = Object.entries(columns).filter(
    ([key]) => key === "id" || !keys.includes(key as keyof NewJobRow),
  );
  // Fields named by their keys, so the rows are stringified as they are, and read as
  // their column's base type (no length or precision): the column's own assignment
  // rules then apply, as they would to a VALUES list.
  const fields = keys.map((key) => {
    const type = columns[key].getSQLType().replace(/ ?\(\d+\)/, "");
    return sql`${sql.identifier(key)} ${sql.raw(type)}`;
  });
  const list = (parts: SQLChunk[]) => sql.join(parts, sql`, `);
  // The quota setting comes from a CTE the SELECT reads, so it is set before the
  // statement's trigger runs; a volatile CTE is evaluated once.
  const quota = options.maxJobsPerTenant;
  const ctes = [
    sql`quota AS (SELECT set_config('scheduler.tenant_max_jobs', ${quota === undefined ? "" : String(quota)}, true))`,
    ...(options.alongside ? [sql`alongside AS (${options.alongside})`] : []),
  ];
  const result = await db.execute<Record<string, unknown>>(
    sql`WITH ${list(ctes)}
    INSERT INTO ${scheduledJobs} (${list(keys.map((key) => sql.identifier(columns[key].name)))})
    SELECT ${list(keys.map((key) => sql`r.${sql.identifier(key)}`))}
    FROM quota, jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS r(${list(fields)})
    RETURNING ${list(returned.map(([, column]) => sql.identifier(column.name)))}`,
  );
  const byId = new Map<unknown, Record<string, unknown>>();
  for (const raw of result.rows) {
    const row: Record<string, unknown> = {};
    for (const [key, column] of returned) {
      const value = raw[column.name];
      row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    byId.set(row.id, row);
  }
  return rows.map((row) => ({ ...row, ...byId.get(row.id) }) as JobRow);
}

/** Whether `row` defines `keys` and no other column (a batch checks each of its rows). */
function definesExactly(row: NewJobRow, keys: readonly (keyof NewJobRow)[]): boolean {
  let defined = 0;
  for (const key in row) if (row[key as keyof NewJobRow] !== undefined) defined++;
  if (defined !== keys.length) return false;
  for (const key of keys) if (row[key] === undefined) return false;
  return true;
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
