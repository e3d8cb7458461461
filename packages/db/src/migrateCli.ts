import pg from "pg";
import { runMigrations } from "./migrate.js";

/**
 * `pnpm migrate`: applies pending migrations to DATABASE_URL. With `--create`, first
 * creates that database if it does not exist (the dev start command uses this).
 */
const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL: is required");
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

try {
  if (process.argv.includes("--create")) await createDatabaseIfMissing(url);
  await runMigrations(url);
  console.log("migrations applied");
} catch (error) {
  console.error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
