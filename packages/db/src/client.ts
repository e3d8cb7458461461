import { toError } from "@scheduler/core";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import { drizzle, type NodePgQueryResultHKT } from "drizzle-orm/node-postgres";
import type { PgDatabase } from "drizzle-orm/pg-core";
import pg from "pg";
import * as schema from "./schema.js";

export interface PoolOptions {
  max?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
  /** Server-side statement_timeout for every connection, in ms. (Default: none) */
  statementTimeoutMs?: number;
  /** idle_in_transaction_session_timeout, in ms, so a frozen process cannot hold row locks. */
  idleInTransactionTimeoutMs?: number;
  /** Server-side lock_timeout, in ms: a lock wait past it fails with 55P03. (Default: none) */
  lockTimeoutMs?: number;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName,
    statement_timeout: options.statementTimeoutMs,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
    lock_timeout: options.lockTimeoutMs,
    connectionTimeoutMillis: 5000,
  });
  // An idle client that loses its connection emits 'error' on the pool; without a
  // listener that would crash the process. The next query gets a fresh client.
  pool.on("error", () => {});
  // A checked-out client (a transaction between two statements) that loses its
  // connection emits 'error' on itself, where the pool listens no more: that crashed a
  // leader when PostgreSQL restarted. The transaction's next statement fails instead,
  // and the client is discarded on release.
  pool.on("connect", (client) => {
    client.on("error", () => {});
  });
  return pool;
}

export function createDb(pool: pg.Pool) {
  return drizzle(pool, { schema });
}

/** A database handle or an open transaction: every query function takes either. */
export type Db = PgDatabase<
  NodePgQueryResultHKT,
  typeof schema,
  ExtractTablesWithRelations<typeof schema>
>;

/** True for a unique violation (SQLSTATE 23505), optionally of one named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = findPgError(error);
  return e?.code === "23505" && (constraint === undefined || e.constraint === constraint);
}

/** The SQLSTATE of a failed query, wherever drizzle put it; undefined when there is none. */
export function sqlStateOf(error: unknown): string | undefined {
  return findPgError(error)?.code;
}

/** drizzle wraps driver errors; the SQLSTATE sits on the error or its cause. */
function findPgError(error: unknown): { code?: string; constraint?: string } | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    const candidate = current as { code?: unknown; cause?: unknown; constraint?: string };
    if (typeof candidate.code === "string" && /^[0-9A-Z]{5}$/.test(candidate.code)) {
      return candidate as { code: string; constraint?: string };
    }
    current = candidate.cause;
  }
  return undefined;
}

/** The pool behind a database handle; a transaction has none. */
export function poolOf(db: Db, what: string): pg.Pool {
  const pool = (db as unknown as { $client?: pg.Pool }).$client;
  if (!pool || typeof pool.connect !== "function") {
    throw new Error(`${what} needs the database handle, not a transaction`);
  }
  return pool;
}

/**
 * A statement PREPAREd once per connection and run with `EXECUTE name(literals)`, for
 * the few that must share a simple-protocol message with others (one round trip, one
 * implicit transaction) yet should not be parsed and planned from scratch each time,
 * as a parameterized (extended-protocol) query cannot share a message.
 */
export interface SessionStatement {
  name: string;
  /** Everything after `PREPARE name`: `(uuid, text) AS SELECT …` */
  definition: string;
}

/** The statements each open connection has PREPAREd. */
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

/** SQLSTATE 26000: a prepared statement of that name does not exist (DEALLOCATE, DISCARD). */
const NO_SUCH_STATEMENT = "26000";

/**
 * Runs `text` (EXECUTEs of `statements`, several per message allowed) on one pooled
 * connection, PREPAREing first the statements that connection has not prepared yet. If
 * the session lost them, they are prepared again and the message sent once more: a
 * message that failed ran as one implicit transaction and changed nothing.
 */
export async function queryPrepared(
  pool: pg.Pool,
  statements: SessionStatement[],
  text: string,
): Promise<pg.QueryResult[]> {
  const client = await pool.connect();
  let discard: Error | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      const done = preparedOn.get(client) ?? new Set<string>();
      const missing = statements.filter((s) => !done.has(s.name));
      if (missing.length > 0) {
        try {
          await client.query(missing.map((s) => `PREPARE ${s.name} ${s.definition}`).join(";\n"));
        } catch (error) {
          // Which of them exist now is unknown: the connection goes, not the guess.
          discard = toError(error);
          throw error;
        }
        for (const s of missing) done.add(s.name);
        preparedOn.set(client, done);
      }
      try {
        const result = (await client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[];
        return Array.isArray(result) ? result : [result];
      } catch (error) {
        if (findPgError(error)?.code !== NO_SUCH_STATEMENT || attempt > 0) {
          // The server answered with an error: the connection is fine. Anything else
          // (reset, timeout) leaves it in an unknown state.
          if (!findPgError(error)) discard = toError(error);
          throw error;
        }
        preparedOn.delete(client);
      }
    }
  } finally {
    client.release(discard);
  }
}

/** SQLSTATE of the tenant_job_counts trigger's refusal (migrations/0003). */
const TENANT_QUOTA_EXCEEDED = "SJ001";

/**
 * When `error` is the refusal of an insert that took a tenant past its job quota: the
 * tenant's job count before the insert.
 */
export function tenantQuotaExceeded(error: unknown): { current: number } | undefined {
  const e = findPgError(error) as { code?: string; detail?: string } | undefined;
  return e?.code === TENANT_QUOTA_EXCEEDED ? { current: Number(e.detail) } : undefined;
}
