/**
 * issue15: the whole set of issue 15 in one command — burst (1,000 and 10,000 due in the
 * same second, one tenant and 100 tenants), sustained (every-second jobs, one tenant),
 * schedules (100,000 through the batch API, then an idle minute) — each workload against
 * the tuned BullMQ baseline in the same command. Each workload appends its own section
 * to RESULTS.md; then the summary at the top of RESULTS.md is rewritten from the latest
 * runs of each (kept in bench/results/issue15.json), earlier summaries marked superseded.
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/issue15.ts \
 *     [--runs 3] [--only burst,sustained,schedules] [--sweep]
 *     [--sizes 1000,10000] [--tenants 1,100] [--seconds 60] [--rate auto]
 *     [--jobs 100000] [--idle-seconds 60] [--no-append]
 *
 * Takes ~40 min with --runs 3 on the 2-core machine (burst ~20, sustained ~13,
 * schedules ~6; --sweep adds ~5), more when the machine is busy: each run first waits
 * (up to 90 s) for it to quieten.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { describeBaseline, tunedBaseline } from "../baseline/tuned.js";
import { REPO_ROOT } from "../lib/processes.js";
import { environmentLines } from "../lib/report.js";
import { type Issue15Results, issue15Summary, writeSummary } from "./issue15Summary.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    only: { type: "string", default: "burst,sustained,schedules" },
    sweep: { type: "boolean", default: false },
    sizes: { type: "string", default: "1000,10000" },
    tenants: { type: "string", default: "1,100" },
    seconds: { type: "string", default: "60" },
    rate: { type: "string", default: "auto" },
    jobs: { type: "string", default: "100000" },
    "idle-seconds": { type: "string", default: "60" },
    "no-append": { type: "boolean", default: false },
  },
});
const WORKLOADS = ["burst", "sustained", "schedules"] as const;
type Workload = (typeof WORKLOADS)[number];
const only = values.only.split(",") as Workload[];
for (const w of only)
  if (!WORKLOADS.includes(w)) throw new Error(`--only: unknown workload ${w} (${WORKLOADS})`);

const LATEST = join(REPO_ROOT, "bench/results/issue15.json");
const scratchDir = join(REPO_ROOT, "bench/profiles", `issue15-${Date.now()}`);
const noAppend = values["no-append"] ? ["--no-append"] : [];

const argsOf: Record<Workload, string[]> = {
  burst: ["--sizes", values.sizes, "--tenants", values.tenants],
  sustained: ["--seconds", values.seconds, "--rate", values.rate],
  schedules: ["--jobs", values.jobs, "--idle-seconds", values["idle-seconds"]],
};

/** Runs one bench script as its own process, its output passed through. */
async function runScript(script: string, args: string[]): Promise<void> {
  const child = spawn(
    process.execPath,
    ["--conditions=@scheduler/source", "--import", "tsx", script, ...args],
    { cwd: REPO_ROOT, stdio: "inherit", env: process.env },
  );
  const [code] = await once(child, "exit");
  if (code !== 0) throw new Error(`${script} ${args.join(" ")} exited with ${code}`);
}

const started = Date.now();
const results: Issue15Results =
  existsSync(LATEST) && !values["no-append"]
    ? (JSON.parse(readFileSync(LATEST, "utf8")) as Issue15Results)
    : {};
mkdirSync(scratchDir, { recursive: true });
try {
  if (values.sweep) await runScript("bench/baseline/sweep.ts", noAppend);
  for (const workload of WORKLOADS.filter((w) => only.includes(w))) {
    const json = join(scratchDir, `${workload}.json`);
    const at = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const t0 = Date.now();
    await runScript(`bench/workloads/${workload}.ts`, [
      "--runs",
      values.runs,
      "--json",
      json,
      ...argsOf[workload],
      ...noAppend,
    ]);
    console.error(`${workload}: ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
    // biome-ignore lint/suspicious/noExplicitAny: each workload's own run type, read back
    (results as Record<Workload, { at: string; runs: any[] }>)[workload] = {
      at,
      runs: JSON.parse(readFileSync(json, "utf8")),
    };
  }
} finally {
  rmSync(scratchDir, { recursive: true, force: true });
}

const command = `node --conditions=@scheduler/source --import tsx bench/workloads/issue15.ts --runs ${values.runs} --only ${values.only}${values.sweep ? " --sweep" : ""}`;
const section = issue15Summary(results, {
  environment: await environmentLines(),
  baseline: describeBaseline(tunedBaseline()),
  command,
  minutes: (Date.now() - started) / 60_000,
});
if (values["no-append"]) {
  console.log(section.join("\n"));
} else {
  mkdirSync(join(REPO_ROOT, "bench/results"), { recursive: true });
  writeFileSync(LATEST, `${JSON.stringify(results)}\n`);
  writeSummary(section);
  console.log(section.join("\n"));
}
process.exit(0);
