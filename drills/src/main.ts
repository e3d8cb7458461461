import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { ALL_DRILLS } from "./drills.js";
import { runDrill } from "./harness.js";
import { type DrillSummary, summarize } from "./invariants.js";
import type { DrillRecord } from "./record.js";
import { drillOk, invariantLines, summaryTable } from "./report.js";

/**
 * `pnpm drills [--reps N] [--only substring,…] [--tail MS] [--results FILE]`: runs the drills one
 * after another, prints one line per invariant per drill, writes the summary table to
 * drills/RESULTS.md (or FILE) and each record and every process's log to drills/records/, and exits 1 when an
 * invariant failed anywhere.
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
const table = summaryTable(rows);
console.log(`\n${table}\n`);
const body = [
  "# Drill results",
  "",
  `Written by \`pnpm drills\` (${reps} repetitions per drill, ${drills.length} drill(s), ${minutes} min on ${cpus().length} cores, ${new Date().toISOString()}). What each column means: [README.md](README.md).`,
  "",
  table,
  "",
  ...(errors.length ? ["Drills that did not finish:", "", ...errors.map((e) => `- ${e}`), ""] : []),
  "## Invariants per drill",
  "",
  "```",
  ...rows.flatMap(({ summary, record }) => invariantLines(summary, record)),
  "```",
  "",
  "## Notes",
  "",
  ...rows.flatMap(({ record }) => [
    `### ${record.drill}`,
    "",
    ...record.notes.map((n) => `- ${n}`),
    "",
  ]),
].join("\n");
writeFileSync(values.results, body);
const failed = rows.some(({ summary, record }) => !drillOk(summary, record)) || errors.length > 0;
process.exit(failed ? 1 : 0);
