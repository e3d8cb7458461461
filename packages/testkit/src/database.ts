import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createDb, createPool, type Db, MIGRATIONS_FOLDER, runMigrations } from "@scheduler/db";
import pg from "pg";

/** The server tests use; each test file gets a database of its own on it. */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase {
  url: string;
  name: string;
  pool: pg.Pool;
  db: Db;
  drop(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Template name keyed by the migrations' content: a new migration makes a new template. */
function templateName(): string {
  const hash = createHash("sha256");
  for (const file of readdirSync(MIGRATIONS_FOLDER).sort()) {
    if (file.endsWith(".sql")) hash.update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  return `scheduler_tpl_${hash.digest("hex").slice(0, 12)}`;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates the migrated template once per migration set, whoever asks first. */
async function ensureTemplate(): Promise<string> {
  const name = templateName();
  await withAdmin(async (admin) => {
    await admin.query("SELECT pg_advisory_lock(hashtext('scheduler:test-template'))");
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (rowCount) return;
    await admin.query(`CREATE DATABASE "${name}"`);
    try {
      await runMigrations(withDatabase(TEST_DATABASE_URL, name));
    } catch (error) {
      await admin.query(`DROP DATABASE IF EXISTS "${name}"`);
      throw error;
    }
  });
  return name;
}

/** A fresh database cloned from the migrated template; `drop()` removes it. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = await ensureTemplate();
  const name = `scheduler_t_${randomBytes(6).toString("hex")}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
  const url = withDatabase(TEST_DATABASE_URL, name);
  const pool = createPool(url, { max: 10 });
  return {
    url,
    name,
    pool,
    db: createDb(pool),
    async drop() {
      await pool.end();
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

/**
 * A fresh database with no migrations applied: for upgrade tests (migrate it part way
 * with `runMigrations(url, { through })`) and for commands that migrate it themselves.
 */
export async function createEmptyTestDatabase(): Promise<TestDatabase> {
  const name = `scheduler_t_${randomBytes(6).toString("hex")}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE "${name}"`));
  const url = withDatabase(TEST_DATABASE_URL, name);
  const pool = createPool(url, { max: 10 });
  return {
    url,
    name,
    pool,
    db: createDb(pool),
    async drop() {
      await pool.end();
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
