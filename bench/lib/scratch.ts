import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import pg from "pg";
import {
  type BenchProcess,
  REPO_ROOT,
  type StartOptions,
  startApp,
  stopProcess,
} from "./processes.js";

/** The server the bench uses; each run gets a database of its own on it. */
export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const BENCH_REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

export const JWT_SECRET = "bench-secret-of-at-least-thirty-two-characters";
export const SERVICE_TOKEN = "bench-service-token-0123456789";
/** A fixed key ring (CONFIG_ENCRYPTION_KEY) for bench runs only. */
export const CONFIG_ENCRYPTION_KEY = `bench:${Buffer.alloc(32, 7).toString("base64")}`;

const MIGRATIONS = join(REPO_ROOT, "packages/db/migrations");

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let template: Promise<string> | undefined;
let templateName: string | undefined;

/**
 * A database migrated by the db package's own migrate command, once per bench process;
 * each run clones it (CREATE DATABASE … TEMPLATE) and it is dropped when the bench ends.
 */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const hash = createHash("sha256");
    for (const file of readdirSync(MIGRATIONS).sort()) {
      if (file.endsWith(".sql")) hash.update(readFileSync(join(MIGRATIONS, file)));
    }
    const name = `bench_tpl_${hash.digest("hex").slice(0, 8)}_${randomBytes(3).toString("hex")}`;
    templateName = name;
    await promisify(execFile)("pnpm", ["--filter", "@scheduler/db", "migrate", "--create"], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: withDatabase(BENCH_DATABASE_URL, name) },
    });
    return name;
  })();
  return template;
}

/** Drops the template, migrated or not; the bench's last step (also on Ctrl-C). */
export async function dropTemplate(): Promise<void> {
  await template?.catch(() => undefined);
  const name = templateName;
  template = undefined;
  templateName = undefined;
  if (name) await admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/**
 * One run's world: a database cloned from the migrated template, a Redis key prefix of
 * its own, and the processes started in it. `close()` stops the processes, drops the
 * database and deletes the keys, whatever happened; Ctrl-C does the same.
 */
export class Scratch {
  readonly processes: BenchProcess[] = [];
  private closed = false;

  private constructor(
    readonly databaseName: string,
    readonly pool: pg.Pool,
    readonly redis: Redis,
    readonly prefix: string,
  ) {}

  static async create(): Promise<Scratch> {
    const source = await migratedTemplate();
    const name = `bench_${randomBytes(6).toString("hex")}`;
    await admin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${source}"`));
    const pool = new pg.Pool({ connectionString: withDatabase(BENCH_DATABASE_URL, name), max: 4 });
    const redis = new Redis(BENCH_REDIS_URL, { maxRetriesPerRequest: null });
    const scratch = new Scratch(name, pool, redis, `bench${randomBytes(5).toString("hex")}`);
    open.add(scratch);
    return scratch;
  }

  get databaseUrl(): string {
    return withDatabase(BENCH_DATABASE_URL, this.databaseName);
  }

  /**
   * The pids of the PostgreSQL backends serving this database, refreshed every second
   * (for the sampler, which must read them synchronously). Stops with close().
   */
  backendPids(): () => number[] {
    if (!this.backendTimer) {
      const refresh = async () => {
        const { rows } = await this.pool.query(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        );
        this.backends = rows.map((r) => r.pid as number);
      };
      void refresh().catch(() => undefined);
      this.backendTimer = setInterval(() => void refresh().catch(() => undefined), 1000);
    }
    return () => this.backends;
  }

  private backends: number[] = [];
  private backendTimer: NodeJS.Timeout | undefined;

  /** The environment of our apps: production defaults but for what a bench must set. */
  appEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      DATABASE_URL: this.databaseUrl,
      REDIS_URL: BENCH_REDIS_URL,
      REDIS_KEY_PREFIX: this.prefix,
      CONFIG_ENCRYPTION_KEY,
      JWT_SECRET,
      INTERNAL_SERVICE_TOKEN: SERVICE_TOKEN,
      HTTP_JOB_ALLOWED_CIDRS: "127.0.0.0/8",
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      // Port 0 for metrics: a bench may run beside a dev stack or the tests.
      METRICS_PORT: "0",
      ...extra,
    };
  }

  startApp(
    name: "api" | "scheduler" | "worker",
    env: Record<string, string>,
    options: StartOptions = {},
  ): BenchProcess {
    return this.track(startApp(name, env, options));
  }

  track(p: BenchProcess): BenchProcess {
    this.processes.push(p);
    return p;
  }

  /** Stops the processes (in parallel), then removes the database and the keys. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    open.delete(this);
    clearInterval(this.backendTimer);
    await Promise.all(this.processes.map((p) => stopProcess(p)));
    await this.pool.end();
    await admin((c) =>
      c.query(`DROP DATABASE IF EXISTS "${this.databaseName}" WITH (FORCE)`),
    ).catch((e: Error) => console.error(`drop ${this.databaseName} failed: ${e.message}`));
    await this.deleteKeys().catch((e: Error) =>
      console.error(`redis cleanup failed: ${e.message}`),
    );
    this.redis.disconnect();
  }

  private async deleteKeys(): Promise<void> {
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(
        cursor,
        "MATCH",
        `${this.prefix}:*`,
        "COUNT",
        1000,
      );
      if (keys.length > 0) await this.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== "0");
  }
}

const open = new Set<Scratch>();

/** Closes whatever is still open and drops the template: call at the end of every bench. */
export async function closeAll(): Promise<void> {
  await Promise.all([...open].map((s) => s.close()));
  await dropTemplate();
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up ${open.size} scratch environment(s)`);
    void closeAll().finally(() => process.exit(130));
  });
}
