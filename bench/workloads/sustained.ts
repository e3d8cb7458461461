/**
 * sustained: every-second jobs (cron `* * * * * *`), so that `rate` executions are due
 * each second, held for 60 s — ours (at its defaults, the jobs created through the batch
 * API for `--tenants` tenants, one by default) and the tuned BullMQ baseline (job
 * schedulers on the same pattern), the same HTTP GET and history writes. First a ladder
 * per side finds the highest rate it holds (10 s steps, ×1.25), then `--runs` holds of
 * 60 s at that rate, the sides alternating.
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/sustained.ts \
 *     [--runs 3] [--side both|ours|baseline] [--tenants 1] [--concurrency N (ours)]
 *     [--baseline-concurrency N] [--baseline-pool N]
 *     [--rate auto|<n>|ours:<n>,baseline:<n>] [--seconds 60] [--json file] [--profile]
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { describeBaseline } from "../baseline/tuned.js";
import { BASELINE_ARGS, baselineFromArgs } from "../lib/baselineArgs.js";
import { describeProfiles } from "../lib/cpuProfile.js";
import { pgCounters, pgDelta } from "../lib/history.js";
import { REPO_ROOT } from "../lib/processes.js";
import { type ProcessFigures, samplerFor } from "../lib/procStats.js";
import { waitForQuietMachine } from "../lib/quiet.js";
import { appendResults, environmentLines } from "../lib/report.js";
import { closeAll } from "../lib/scratch.js";
import { type OpenOptions, openSide, type Side, type SteadySide } from "../lib/sides.js";
import { sleep } from "../lib/stats.js";
import { sustainedReport } from "./sustainedReport.js";
import { type WindowFigures, windowFigures } from "./sustainedWindow.js";

export interface HoldRun extends WindowFigures {
  side: Side;
  offered: number;
  seconds: number;
  backlogFirst: number;
  backlogLast: number;
  backlogMax: number;
  /** Least-squares slope of the backlog over the window, executions per second. */
  backlogSlope: number;
  held: boolean;
  processes: Record<string, ProcessFigures>;
  commitsPerExecution: number;
  /** 1-minute load average at the end of the window: how busy the shared machine was. */
  loadAverage: number;
  /** How busy the machine was (% of all cores) just before the run: others' load. */
  busyBeforePercent: number;
}

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    side: { type: "string", default: "both" },
    tenants: { type: "string", default: "1" },
    concurrency: { type: "string" },
    ...BASELINE_ARGS,
    json: { type: "string" },
    rate: { type: "string", default: "auto" },
    seconds: { type: "string", default: "60" },
    "ladder-start": { type: "string", default: "400" },
    profile: { type: "boolean", default: false },
    "no-append": { type: "boolean", default: false },
  },
});
const ourConcurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
const baselineSettings = baselineFromArgs(values);
const openOptions = (profileDir?: string): OpenOptions => ({
  tenants: Number(values.tenants),
  baseline: baselineSettings,
  ...(ourConcurrency === undefined ? {} : { ourConcurrency }),
  ...(profileDir ? { profile: { cpuProfileDir: profileDir } } : {}),
});
const seconds = Number(values.seconds);
const sides: Side[] = values.side === "both" ? ["ours", "baseline"] : [values.side as Side];

/**
 * Held: at least 95 % of the offered executions completed (90 % in a window of 10 s or
 * less, where one second's batch at an edge is 10 %), less than half a second of work
 * piled up, nothing skipped.
 */
function isHeld(
  offered: number,
  windowSeconds: number,
  executionsPerSecond: number,
  backlogGrowth: number,
  skipped: number,
) {
  const completed = windowSeconds <= 10 ? 0.9 : 0.95;
  return (
    executionsPerSecond >= completed * offered && backlogGrowth < 0.5 * offered && skipped === 0
  );
}

function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** Measures `windowSeconds` of a side already at its rate, after `settleMs`. */
async function measureWindow(
  side: SteadySide,
  settleMs: number,
  windowSeconds: number,
): Promise<HoldRun> {
  // Every-second jobs fire at whole seconds: start half-way through a second and read the
  // backlog at that same phase each time, so samples do not alias with the firing.
  await sleep(settleMs + 1500 - ((Date.now() + settleMs) % 1000));
  const sampler = samplerFor(side.processes, side.scratch.backendPids());
  sampler.start();
  const pgBefore = await pgCounters(side.scratch.pool);
  const from = new Date();
  const backlog: [number, number][] = [];
  for (let at = 0; at <= windowSeconds; at += 2) {
    await sleep(from.getTime() + at * 1000 - Date.now());
    backlog.push([at, await side.backlog()]);
  }
  const to = new Date(from.getTime() + windowSeconds * 1000);
  sampler.stop();
  const pg = pgDelta(pgBefore, await pgCounters(side.scratch.pool));
  const figures = await windowFigures(side.scratch.pool, side.table, from, to);
  const values = backlog.map(([, n]) => n);
  const growth = values.at(-1)! - values[0]!;
  return {
    side: side.side,
    offered: side.rate,
    seconds: windowSeconds,
    ...figures,
    backlogFirst: values[0]!,
    backlogLast: values.at(-1)!,
    backlogMax: Math.max(...values),
    backlogSlope: slope(backlog),
    held: isHeld(side.rate, windowSeconds, figures.executionsPerSecond, growth, figures.skipped),
    processes: sampler.window(from.getTime(), to.getTime()),
    commitsPerExecution: pg.commits / Math.max(1, figures.completed),
    loadAverage: loadavg()[0]!,
    busyBeforePercent: Number.NaN,
  };
}

/**
 * The highest rate of the ladder that a side holds for a 10 s window: up by ×1.25 from
 * the start until a step is not held, or down by ×0.8 when the start is not held.
 */
async function ladder(sideName: Side): Promise<number> {
  await waitForQuietMachine();
  const side = await openSide(sideName, openOptions());
  let rate = Number(values["ladder-start"]);
  let best = 0;
  try {
    for (;;) {
      await side.raiseRate(rate);
      const step = await measureWindow(side, 5000, 10);
      console.error(
        `ladder ${sideName} ${rate}/s: ${step.executionsPerSecond.toFixed(0)}/s, backlog ${step.backlogFirst}→${step.backlogLast}, skipped ${step.skipped}: ${step.held ? "held" : "not held"}`,
      );
      if (!step.held) break;
      best = rate;
      rate = Math.round(rate * 1.25);
    }
  } finally {
    await side.close();
  }
  // Jobs are only ever added to a stack: a lower rate needs a fresh one, this one closed.
  return best > 0 ? best : await ladderDown(sideName, Math.round(rate * 0.8));
}

/** Steps down by ×0.8, a fresh stack each, until a rate is held. */
async function ladderDown(sideName: Side, from: number): Promise<number> {
  for (let rate = from; rate >= 25; rate = Math.round(rate * 0.8)) {
    await waitForQuietMachine();
    const side = await openSide(sideName, openOptions());
    try {
      await side.raiseRate(rate);
      const step = await measureWindow(side, 5000, 10);
      console.error(
        `ladder ${sideName} ${rate}/s: ${step.executionsPerSecond.toFixed(0)}/s: ${step.held ? "held" : "not held"}`,
      );
      if (step.held) return rate;
    } finally {
      await side.close();
    }
  }
  return 25;
}

async function hold(sideName: Side, rate: number, profileDir?: string): Promise<HoldRun> {
  const busyBeforePercent = await waitForQuietMachine();
  const side = await openSide(sideName, openOptions(profileDir));
  try {
    await side.raiseRate(rate);
    return { ...(await measureWindow(side, 10_000, seconds)), busyBeforePercent };
  } finally {
    await side.close();
  }
}

function ratesFromArgs(): Map<Side, number> | undefined {
  if (values.rate === "auto") return undefined;
  if (/^\d+$/.test(values.rate)) return new Map(sides.map((s) => [s, Number(values.rate)]));
  return new Map(
    values.rate.split(",").map((part) => {
      const [side, n] = part.split(":");
      return [side as Side, Number(n)];
    }),
  );
}

const environment = await environmentLines();
const results: HoldRun[] = [];
const rates = ratesFromArgs() ?? new Map<Side, number>();
try {
  for (const side of sides) {
    if (!rates.has(side)) rates.set(side, await ladder(side));
  }
  for (let i = 0; i < Number(values.runs); i++) {
    for (const side of sides) {
      const result = await hold(side, rates.get(side)!);
      console.error(JSON.stringify(result));
      results.push(result);
    }
  }
  if (values.profile) {
    for (const side of sides) {
      const dir = `${REPO_ROOT}bench/profiles/sustained-${side}-${Date.now()}`;
      await hold(side, rates.get(side)!, dir);
      console.error(`CPU profiles of ${side} (an extra run, not in the medians): ${dir}`);
      console.error(describeProfiles(dir));
    }
  }
} finally {
  await closeAll();
}
const rateArg = [...rates].map(([s, n]) => `${s}:${n}`).join(",");
if (values.json) writeFileSync(values.json, JSON.stringify(results));
const command = `node --conditions=@scheduler/source --import tsx bench/workloads/sustained.ts --runs ${values.runs} --side ${values.side} --tenants ${values.tenants}${ourConcurrency === undefined ? "" : ` --concurrency ${ourConcurrency}`} --baseline-concurrency ${baselineSettings.concurrency} --baseline-pool ${baselineSettings.poolSize} --rate ${rateArg} --seconds ${seconds}`;
const body = [
  ...environment,
  "",
  `Ours: scheduler, worker and api at their defaults${ourConcurrency === undefined ? "" : ` but WORKER_CONCURRENCY=${ourConcurrency}`}, the every-second jobs created through \`POST /internal/jobs/batch-create\` for ${values.tenants === "1" ? "one tenant" : `${values.tenants} tenants`} in a freshly migrated database (no ANALYZE). Baseline: ${describeBaseline(baselineSettings)}.`,
  "",
  ...sustainedReport(results, rates, values.rate === "auto"),
];
if (values["no-append"]) console.log(body.join("\n"));
else appendResults("sustained (ours vs tuned BullMQ)", command, body);
process.exit(0);
