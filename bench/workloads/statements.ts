/**
 * statements: what one execution costs PostgreSQL, statement by statement — a small
 * burst (default 500 jobs) on each side with every statement of the run's database
 * logged with its duration (log_min_duration_statement = 0) and its plan with actual
 * rows and buffers (auto_explain, analyze), set on that database only. Prints each
 * distinct statement's calls per execution and mean time, and the plans of the costliest.
 * A profiling aid, not a timing benchmark (logging slows every statement): nothing is
 * appended to RESULTS.md.
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/statements.ts \
 *     [--size 500] [--side both|ours|baseline] [--plans 6] [--jobs-stored 0]
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { tunedBaseline } from "../baseline/tuned.js";
import { countEnded } from "../lib/history.js";
import { insertJobs } from "../lib/ours.js";
import { closeAll, type Scratch } from "../lib/scratch.js";
import { openSide, type Side } from "../lib/sides.js";
import { num, table, until } from "../lib/stats.js";

const LOG = process.env.BENCH_PG_LOG ?? "/var/log/postgresql/postgresql-15-main.log";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "500" },
    side: { type: "string", default: "both" },
    plans: { type: "string", default: "6" },
    "jobs-stored": { type: "string", default: "0" },
  },
});
const size = Number(values.size);
const sides: Side[] = values.side === "both" ? ["ours", "baseline"] : [values.side as Side];

/** Settings of the scratch database: new sessions (the apps', started after) log everything. */
async function traceDatabase(scratch: Scratch): Promise<void> {
  const db = `"${scratch.databaseName}"`;
  for (const setting of [
    "log_min_duration_statement = 0",
    "session_preload_libraries = 'auto_explain'",
    "auto_explain.log_min_duration = 0",
    "auto_explain.log_analyze = on",
    "auto_explain.log_buffers = on",
    "auto_explain.log_nested_statements = on",
  ]) {
    await scratch.pool.query(`ALTER DATABASE ${db} SET ${setting}`);
  }
  const stored = Number(values["jobs-stored"]);
  if (stored > 0) {
    // Paused: they only make scheduled_jobs the size a deployment's is.
    await insertJobs(scratch, {
      namePrefix: "idle-",
      count: stored,
      cron: "0 0 3 * * *",
      nextAt: null,
      targetUrl: "http://127.0.0.1:9/",
    });
  }
}

function readFrom(offset: number): string {
  const fd = openSync(LOG, "r");
  const length = statSync(LOG).size - offset;
  const buffer = Buffer.alloc(Math.max(0, length));
  readSync(fd, buffer, 0, buffer.length, offset);
  closeSync(fd);
  return buffer.toString("utf8");
}

interface Entry {
  sql: string;
  ms: number[];
  plan?: string;
  planMs?: number;
}

/** A statement with its literals and parameters made alike, so repeats group together. */
function normalize(sql: string): string {
  return sql
    .replace(/\s+/g, " ")
    .replace(/'[^']*'/g, "?")
    .replace(/\$\d+/g, "?")
    .replace(/\b\d+\b/g, "?")
    .trim();
}

/** Statements of `database` in the log text: durations by statement, a plan for each. */
function parseLog(text: string, database: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  const records = text.split(/\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ UTC \[)/);
  for (const record of records) {
    if (!record.includes(`@${database} `)) continue;
    const statement = /duration: ([\d.]+) ms {2}(?:statement|execute [^:]*): ([\s\S]*)$/.exec(
      record,
    );
    if (statement) {
      const key = normalize(
        statement[2]!
          .split("\n")
          .filter((l) => !/^\s*(DETAIL|parameters):/.test(l))
          .join(" "),
      );
      const entry = entries.get(key) ?? { sql: key, ms: [] };
      entry.ms.push(Number(statement[1]));
      entries.set(key, entry);
      continue;
    }
    const plan = /duration: ([\d.]+) ms {2}plan:\s*Query Text: ([\s\S]*)$/.exec(record);
    if (plan) {
      // The query text runs until the plan's first node, the first line with a cost.
      const lines = plan[2]!.split("\n");
      const top = lines.findIndex((l) => l.includes("(cost="));
      if (top < 0) continue;
      const key = normalize(lines.slice(0, top).join(" "));
      const entry = entries.get(key) ?? { sql: key, ms: [] };
      if (entry.planMs === undefined || Number(plan[1]) > entry.planMs) {
        entry.plan = lines.slice(top).join("\n");
        entry.planMs = Number(plan[1]);
      }
      entries.set(key, entry);
    }
  }
  return entries;
}

async function trace(sideName: Side): Promise<string[]> {
  const side = await openSide(sideName, {
    tenants: 100,
    baseline: tunedBaseline(),
    prepare: traceDatabase,
  });
  try {
    const offset = statSync(LOG).size;
    const { slot } = await side.burst(size);
    await until(
      async () =>
        (await countEnded(side.scratch.pool, side.table, slot)) >= size ? true : undefined,
      `${size} executions to end`,
      180_000,
    );
    const entries = [...parseLog(readFrom(offset), side.scratch.databaseName).values()]
      .filter((e) => e.ms.length > 0)
      .sort((a, b) => b.ms.reduce((s, x) => s + x, 0) - a.ms.reduce((s, x) => s + x, 0));
    const rows = entries.slice(0, 25).map((e) => {
      const total = e.ms.reduce((s, x) => s + x, 0);
      return [
        e.sql.slice(0, 140).replaceAll("|", "\\|"),
        num(e.ms.length / size, 2),
        num(total / e.ms.length, 2),
        num(total / size, 2),
      ];
    });
    const lines = [
      `### ${sideName}: ${size} executions (${values["jobs-stored"]} other jobs stored), every statement of its database (logging on: times inflated)`,
      "",
      table(["statement", "calls per execution", "mean ms", "ms per execution"], rows),
      "",
    ];
    for (const e of entries.filter((x) => x.plan).slice(0, Number(values.plans))) {
      lines.push(
        `plan (slowest of ${e.ms.length}, ${e.planMs} ms): ${e.sql.slice(0, 160)}`,
        "```",
        e.plan!.trimEnd(),
        "```",
        "",
      );
    }
    return lines;
  } finally {
    await side.close();
  }
}

try {
  for (const side of sides) console.log((await trace(side)).join("\n"));
} finally {
  await closeAll();
}
process.exit(0);
