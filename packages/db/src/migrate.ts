import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

/** The committed SQL migrations, beside src/ and dist/ alike. */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../migrations", import.meta.url));

export interface MigrateOptions {
  /** Stop after the migration with this tag (e.g. '0000_init'): upgrade tests start there. */
  through?: string;
}

/**
 * Applies every pending migration (up to `through`). Serialised with an advisory lock,
 * so several processes started at once (compose, tests) apply each migration once.
 */
export async function runMigrations(
  connectionString: string,
  options: MigrateOptions = {},
): Promise<void> {
  const folder = options.through ? migrationsThrough(options.through) : MIGRATIONS_FOLDER;
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock(hashtext('scheduler:migrations'))");
    await migrate(drizzle(client), { migrationsFolder: folder });
  } finally {
    await client.end();
    if (folder !== MIGRATIONS_FOLDER) rmSync(folder, { recursive: true, force: true });
  }
}

/** A temporary copy of the migrations folder whose journal ends at `tag`. */
function migrationsThrough(tag: string): string {
  const journal = JSON.parse(
    readFileSync(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8"),
  ) as { entries: { tag: string }[] };
  const last = journal.entries.findIndex((entry) => entry.tag === tag);
  if (last < 0) throw new Error(`no migration tagged ${tag}`);
  const folder = mkdtempSync(join(tmpdir(), "scheduler-migrations-"));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(join(folder, "meta/_journal.json"), JSON.stringify(journal));
  return folder;
}
