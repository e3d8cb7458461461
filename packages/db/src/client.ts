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
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName,
    statement_timeout: options.statementTimeoutMs,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
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
