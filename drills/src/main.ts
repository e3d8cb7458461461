import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { ALL_DRILLS } from "./drills.js";
import { runDrill } from "./harness.js";
import { type DrillSummary, summarize } from "./invariants.js";
import type { DrillRecord } from "./record.js";
import { drillOk, invariantLines, summaryTable } from "./report.js";

/**
 * `pnpm drills [--reps N] [--only substring,…] [--tail MS] [--results FILE]`: runs the
 * drills one after another, prints one line per invariant per drill, keeps each record
 * and every process's log in drills/records/, and exits 1 when an invariant failed in
 * a drill it ran. The summary table (drills/RESULTS.md, or FILE) covers the latest
 * record of every drill: a run with --only replaces those drills' rows, a run of the
 * full set starts the records afresh.
 */
const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "5" },
    tail: { type: "string" },
    only: { type: "string" },
    results: { type: "string", default: new URL("../RESULTS.md", import.meta.url).pathname },
  },
});
const reps = Number(values.reps);
const only = values.only?.split(",").filter(Boolean);
const drills = only ? ALL_DRILLS.filter((d) => only.some((o) => d.name.includes(o))) : ALL_DRILLS;
const recordsDir = new URL("../records/", import.meta.url).pathname;
if (!only) rmSync(recordsDir, { recursive: true, force: true });
mkdirSync(recordsDir, { recursive: true });

const rows: { summary: DrillSummary; record: DrillRecord }[] = [];
const errors: string[] = [];
const t0 = Date.now();
for (const drill of drills) {
  try {
    const logDir = `${recordsDir}${drill.name}`;
    rmSync(logDir, { recursive: true, force: true });
    mkdirSync(logDir, { recursive: true });
    const record = await runDrill(drill, {
      logDir,
      reps,
      ...(values.tail ? { tailMs: Number(values.tail) } : {}),
      log: (line) => console.log(line),
    });
    writeFileSync(`${recordsDir}${drill.name}.json`, JSON.stringify(record));
    const summary = summarize(record);
    rows.push({ summary, record });
    for (const line of invariantLines(summary, record)) console.log(line);
  } catch (error) {
    const message = (error as Error).message.split("\n").slice(0, 40).join("\n");
    console.log(`ERROR ${drill.name}: ${message}`);
    errors.push(`${drill.name}: ${message.split("\n")[0]}`);
  }
}
const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
const failed = rows.some(({ summary, record }) => !drillOk(summary, record)) || errors.length > 0;
// The table: the latest record of every drill, this run's or an earlier one's.
const latest = ALL_DRILLS.flatMap((drill) => {
  const ran = rows.find((r) => r.record.drill === drill.name);
  if (ran) return [ran];
  const file = `${recordsDir}${drill.name}.json`;
  if (!existsSync(file)) return [];
  const record = JSON.parse(readFileSync(file, "utf8")) as DrillRecord;
  return [{ summary: summarize(record), record }];
});
const table = summaryTable(latest);
console.log(`\n${table}\n`);
const body = [
  "# Drill results",
  "",
  `Written by \`pnpm drills\` on ${cpus().length} cores, last run ${new Date().toISOString()} (${drills.length} drill(s), ${reps} repetitions each, ${minutes} min). Each row is the drill's latest record. What each column means: [README.md](README.md).`,
  "",
  table,
  "",
  ...(errors.length ? ["Drills that did not finish:", "", ...errors.map((e) => `- ${e}`), ""] : []),
  "## Invariants per drill",
  "",
  "```",
  ...latest.flatMap(({ summary, record }) => invariantLines(summary, record)),
  "```",
  "",
  "## Notes",
  "",
  ...latest.flatMap(({ record }) => [
    `### ${record.drill}`,
    "",
    ...record.notes.map((n) => `- ${n}`),
    "",
  ]),
].join("\n");
writeFileSync(values.results, body);
process.exit(failed ? 1 : 0);
