import { ConfigError, loadConfig, MigrateConfig } from "@scheduler/core";
import pg from "pg";
import { createDb, createPool } from "./client.js";
import { runMigrations } from "./migrate.js";
import { databaseNow } from "./queries/claims.js";
import { maintainPartitions, PARTITION_MONTHS_AHEAD } from "./queries/partitions.js";

/**
 * `pnpm migrate`: applies pending migrations to DATABASE_URL, then runs partition
 * maintenance once, so the history has its partitions for the coming months (and sheds
 * the months older than EXECUTION_RETENTION_DAYS) before any process starts. With
 * `--create`, first creates that database if it does not exist (the dev start command
 * uses this).
 */
let config: MigrateConfig;
try {
  config = loadConfig(MigrateConfig, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

async function createDatabaseIfMissing(connectionString: string): Promise<void> {
  const target = new URL(connectionString);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(connectionString);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
      console.log(`database ${name} created`);
    }
  } finally {
    await client.end();
  }
}

async function maintain(connectionString: string): Promise<void> {
  const pool = createPool(connectionString, { max: 1, applicationName: "scheduler-migrate" });
  try {
    const db = createDb(pool);
    const { created, dropped } = await maintainPartitions(db, {
      now: await databaseNow(db),
      retentionDays: config.EXECUTION_RETENTION_DAYS,
      monthsAhead: PARTITION_MONTHS_AHEAD,
    });
    if (created.length > 0) console.log(`partitions created: ${created.join(", ")}`);
    if (dropped.length > 0) console.log(`partitions dropped (retention): ${dropped.join(", ")}`);
  } finally {
    await pool.end();
  }
}

try {
  if (process.argv.includes("--create")) await createDatabaseIfMissing(config.DATABASE_URL);
  await runMigrations(config.DATABASE_URL);
  console.log("migrations applied");
  await maintain(config.DATABASE_URL);
} catch (error) {
  console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
