import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "./api.js";
import type { CacheFigures, Exactness, Timing } from "./measure.js";

const RESULTS_FILE = join(REPO_ROOT, "bench/RESULTS.md");
/** This bench's section of RESULTS.md lies between these: a new run replaces it. */
const START = "<!-- history-bench:start -->";
const END = "<!-- history-bench:end -->";
const TARGET_MS = { list: 50, stats: 100 };

export interface HistoryReport {
  command: string;
  tenants: number;
  jobsPerTenant: number;
  days: number;
  loaded: {
    executions: number;
    rollups: number;
    loadSeconds: number;
    indexSeconds: number;
    vacuumSeconds: number;
    perDay: number[];
  };
  tableSizes: { name: string; rows: string; heap: string; indexes: string }[];
  timings: Timing[];
  exactness: Exactness[];
  caches: CacheFigures;
  trigger: { withTrigger: number; without: number };
  plans: { route: string; plans: string[] }[];
  /** How busy all cores were, in %, just before and just after the measurements. */
  busy: { before: number; after: number };
  serverSettings: string;
}

const ms = (value: number | null) => (value === null ? "—" : value.toFixed(1));
const int = (value: number) => value.toLocaleString("en-US");

function section(r: HistoryReport): string {
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const cpu = cpus();
  const sortedDays = [...r.loaded.perDay].sort((a, b) => a - b);
  const lines = [
    START,
    `## Execution history at scale (issue 8) — ${stamp}`,
    "",
    `\`${r.command}\``,
    "",
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}, shared with other work: ${r.busy.before.toFixed(0)} % busy before the measurements, ${r.busy.after.toFixed(0)} % after (load average ${loadavg()[0]!.toFixed(2)}). PostgreSQL ${r.serverSettings}. The API ran from source under tsx, one process, production defaults.`,
    "",
    `Data: ${int(r.loaded.executions)} executions of ${r.tenants} tenants × ${r.jobsPerTenant} jobs over ${r.days} days and today (${int(r.tenants * r.jobsPerTenant * 100)} a day; 94 % completed, 3 % failed, 1 % cancelled, 2 % skipped, the last two minutes pending/running; 1 % manual or retry), in the partitions maintenance makes; ${int(r.loaded.rollups)} rollup rows. Loaded one day per INSERT … SELECT (generate_series) into the logged tables, with the rollup trigger off and each day's rollups built in the same statement by the trigger's aggregation, and the keys and indexes dropped, then created again from their catalog definitions (checked identical): rows ${r.loaded.loadSeconds.toFixed(0)} s (a day: median ${sortedDays[Math.floor(sortedDays.length / 2)]!.toFixed(0)} s, slowest ${sortedDays.at(-1)!.toFixed(0)} s), indexes ${r.loaded.indexSeconds.toFixed(0)} s, VACUUM (ANALYZE) ${r.loaded.vacuumSeconds.toFixed(0)} s.`,
    "",
    "| partition | rows | heap | indexes |",
    "| --- | ---: | ---: | ---: |",
    ...r.tableSizes.map((t) => `| ${t.name} | ${int(Number(t.rows))} | ${t.heap} | ${t.indexes} |`),
    "",
    `### Latency through the API (real HTTP, one request at a time, ${r.timings[0]?.samples ?? 0} samples per route after 20 warm-up, tenants and jobs drawn at random)`,
    "",
    "| route | p50 ms | p95 ms | max ms | target (p95) |",
    "| --- | ---: | ---: | ---: | --- |",
    ...r.timings.map(
      (t) =>
        `| ${t.route} | ${ms(t.p50)} | ${ms(t.p95)} | ${ms(t.max)} | < ${TARGET_MS[t.kind]} ms ${t.p95 < TARGET_MS[t.kind] ? "✓" : "✗"} |`,
    ),
    "",
    "### Stats against a full count",
    "",
    "The API's stats (rollups for whole UTC days, rows for the partial days at the ends) against the query the API ran before rollups, which reads every row of the window (`count(*) FILTER …`, `percentile_disc(0.95)`).",
    "",
    "| tenant | window | total: API | total: full count | every status count equal | p95: API / exact | full count ms | API ms |",
    "| --- | --- | ---: | ---: | --- | --- | ---: | ---: |",
    ...r.exactness.map(
      (e) =>
        `| …${e.tenant.slice(-4)} | ${e.window} | ${int(e.apiTotal)} | ${int(e.fullTotal)} | ${e.countsEqual ? "yes" : "**no**"} | ${e.apiP95 ?? "—"} / ${e.exactP95 ?? "—"} | ${ms(e.fullCountMs)} | ${ms(e.apiMs)} |`,
    ),
    "",
    "### The two proposed caches (job config, daily stats), measured before building them",
    "",
    `- Job config by id: PostgreSQL p50 ${ms(r.caches.configFromPostgres.p50)} ms / p95 ${ms(r.caches.configFromPostgres.p95)} ms; the same JSON from Redis p50 ${ms(r.caches.configFromRedis.p50)} ms / p95 ${ms(r.caches.configFromRedis.p95)} ms.`,
    `- Day stats through the API (what a \`scheduler:stats:{tenantId}:{date}\` cache would replace): p50 ${ms(r.caches.dayStatsFromApi.p50)} ms / p95 ${ms(r.caches.dayStatsFromApi.p95)} ms.`,
    "",
    "### The rollup trigger on a terminal write",
    "",
    `A single-row running → completed UPDATE (the worker's write), median of 2,000 each, in alternating blocks: ${ms(r.trigger.withTrigger)} ms with the statement-level rollup trigger, ${ms(r.trigger.without)} ms without.`,
    "",
    "### Plans the API's statements used (auto_explain: EXPLAIN ANALYZE, BUFFERS)",
    "",
  ];
  for (const { route, plans } of r.plans) {
    lines.push(
      `<details><summary>${route}</summary>`,
      "",
      "```",
      ...plans,
      "```",
      "",
      "</details>",
      "",
    );
  }
  if (r.plans.length === 0) lines.push("(The server log was not readable: no plans captured.)", "");
  lines.push(END);
  return lines.join("\n");
}

/** Prints the section and, with `write`, puts it into RESULTS.md in place of the previous one. */
export function writeSection(report: HistoryReport, write: boolean): void {
  const text = section(report);
  console.log(text);
  if (!write) return;
  const current = existsSync(RESULTS_FILE)
    ? readFileSync(RESULTS_FILE, "utf8")
    : "# Benchmark results\n";
  const start = current.indexOf(START);
  const end = current.indexOf(END);
  const next =
    start >= 0 && end > start
      ? current.slice(0, start) + text + current.slice(end + END.length)
      : `${current.trimEnd()}\n\n${text}\n`;
  writeFileSync(RESULTS_FILE, next);
}
