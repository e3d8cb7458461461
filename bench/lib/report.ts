import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { BUILT_ROOT, REPO_ROOT } from "./processes.js";
import { BENCH_DATABASE_URL, BENCH_REDIS_URL } from "./scratch.js";

export const RESULTS_FILE = join(REPO_ROOT, "bench/RESULTS.md");

function packageVersion(name: string): string {
  const file = join(REPO_ROOT, "node_modules", name, "package.json");
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version
    : "?";
}

/** The commit measured, and whether the work tree differed from it (read-only git). */
function commit(): string {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO_ROOT })
      .toString()
      .trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "apps", "packages"], {
      cwd: REPO_ROOT,
    })
      .toString()
      .trim();
    return dirty ? `${head} + uncommitted changes in apps/ or packages/` : head;
  } catch {
    return "?";
  }
}

/** One line on the machine and one on the versions, for RESULTS.md. */
export async function environmentLines(): Promise<string[]> {
  const client = new pg.Client({ connectionString: BENCH_DATABASE_URL });
  await client.connect();
  const { rows } = await client.query("SHOW server_version");
  const { rows: commitRows } = await client.query("SHOW synchronous_commit");
  await client.end();
  const redis = new Redis(BENCH_REDIS_URL);
  const info = await redis.info("server");
  redis.disconnect();
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
  const cpu = cpus();
  return [
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}; PostgreSQL, Redis, the target and the bench share the cores (load average at the start ${loadavg()[0]!.toFixed(2)}).`,
    `Versions: Node ${process.version}, PostgreSQL ${rows[0].server_version} (synchronous_commit ${commitRows[0].synchronous_commit}), Redis ${redisVersion}, bullmq ${packageVersion("bullmq")} (ours), bullmq ${packageVersion("bullmq-latest")} (the baseline, as bullmq-latest), undici ${packageVersion("undici")}, autocannon ${packageVersion("autocannon")}; code at ${commit()}.`,
    BUILT_ROOT
      ? `Our apps ran built, as in production (\`node apps/<name>/dist/main.js\` from a copy made by bench/buildCopy.sh).`
      : "Our apps ran from source under tsx, as the e2e tests start them (tsx's loader alone adds ~45 MB to a process's RSS).",
  ];
}

/** Appends a section to bench/RESULTS.md and echoes it. */
export function appendResults(title: string, command: string, body: string[]): void {
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const section = [`\n## ${title} — ${stamp}`, "", `\`${command}\``, "", ...body, ""].join("\n");
  appendFileSync(RESULTS_FILE, section);
  console.log(section);
}
