import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { appCpuSeconds } from "../lib/compare.js";
import type { ProcessFigures } from "../lib/procStats.js";
import { RESULTS_FILE } from "../lib/report.js";
import { num, ratio, type Spread, showRatio, showSpread, spread, table } from "../lib/stats.js";
import type { BurstRun } from "./burst.js";
import type { SchedulesRun } from "./schedules.js";
import type { HoldRun } from "./sustained.js";

/** The runs of each workload of the last issue-15 command that ran it. */
export interface Issue15Results {
  burst?: { at: string; runs: BurstRun[] };
  sustained?: { at: string; runs: HoldRun[] };
  schedules?: { at: string; runs: SchedulesRun[] };
}

type Better = "higher" | "lower";

/** One line of the summary: ours, the baseline, the ratio, the target and whether it is met. */
function line(
  workload: string,
  figure: string,
  ours: Spread,
  baseline: Spread | undefined,
  options: {
    better?: Better;
    digits?: number;
    target?: string;
    met?: (o: Spread, b: Spread | undefined) => boolean;
    /** A throughput figure: the floor is being ahead of the baseline. */
    floor?: boolean;
  } = {},
): string[] {
  const { better, digits } = options;
  const r = baseline && better ? ratio(ours, baseline, better) : Number.NaN;
  // A throughput row with no target of its own still has the floor: ahead of the baseline.
  const floorOnly = options.floor && !options.met;
  const met = floorOnly ? () => Number.isFinite(r) && r > 1 : options.met;
  let status = "";
  if (ours.runs === 0) status = "not run";
  else if (met) status = met(ours, baseline) ? "met" : "**missed**";
  if (options.floor && !floorOnly && Number.isFinite(r) && r <= 1) status += ", **behind**";
  return [
    workload,
    figure,
    showSpread(ours, digits),
    baseline ? showSpread(baseline, digits) : "—",
    Number.isFinite(r) ? showRatio(r) : "",
    floorOnly ? "ahead of the baseline (> 1×)" : (options.target ?? ""),
    status,
  ];
}

const of = <R>(runs: R[], pick: (r: R) => number | undefined) =>
  spread(runs.map(pick).filter((v): v is number => v !== undefined));

/** ms of CPU per execution of one process (or the side's apps: `apps`). */
function cpuMs(
  processes: Record<string, ProcessFigures>,
  name: string,
  executions: number,
): number | undefined {
  const seconds =
    name === "apps" ? appCpuSeconds(processes) : (processes[name]?.cpuSeconds ?? undefined);
  return seconds === undefined || executions === 0 ? undefined : (1000 * seconds) / executions;
}

const PROCESS_ROWS: [string, string, string | undefined][] = [
  [
    "PostgreSQL (the run's backends)",
    "postgres (this run's backends)",
    "postgres (this run's backends)",
  ],
  ["scheduler", "scheduler", undefined],
  ["worker / the baseline's worker", "worker", "baseline-worker"],
  ["api", "api", undefined],
  ["Redis (whole server)", "redis-server", "redis-server"],
  ["all the side's app processes", "apps", "apps"],
];

/** CPU per execution per process, ours against the baseline. */
function cpuLines<R extends { processes: Record<string, ProcessFigures>; completed: number }>(
  workload: string,
  ours: R[],
  baseline: R[],
): string[][] {
  return PROCESS_ROWS.map(([label, oursName, baselineName]) =>
    line(
      workload,
      `CPU per execution (ms): ${label}`,
      of(ours, (r) => cpuMs(r.processes, oursName, r.completed)),
      baselineName ? of(baseline, (r) => cpuMs(r.processes, baselineName, r.completed)) : undefined,
      { better: "lower", digits: 2 },
    ),
  );
}

function burstLines(runs: BurstRun[]): string[][] {
  const out: string[][] = [];
  for (const size of [10_000, 1000]) {
    const baseline = runs.filter((r) => r.side === "baseline" && r.size === size);
    for (const tenants of [1, 100]) {
      const ours = runs.filter(
        (r) => r.side === "ours" && r.size === size && r.tenants === tenants,
      );
      if (ours.length === 0 && baseline.length === 0) continue;
      const workload = `burst ${num(size, 0)}, ${tenants === 1 ? "one tenant" : `${tenants} tenants`}`;
      const done = (r: BurstRun) => r.doneAfterMs / 1000;
      out.push(
        line(workload, "last done after the due second (s)", of(ours, done), of(baseline, done), {
          better: "lower",
          floor: true,
          ...(size >= 10_000
            ? {
                target: "≤ 3 s and ≥ 3×",
                met: (o, b) => o.median <= 3 && b !== undefined && ratio(o, b, "lower") >= 3,
              }
            : {}),
        }),
      );
      const p99 = (r: BurstRun) => r.startLagP99;
      out.push(
        line(workload, "start lag p99 (ms)", of(ours, p99), of(baseline, p99), {
          better: "lower",
          digits: 0,
          ...(size <= 1000 ? { target: "≤ 300 ms", met: (o) => o.median <= 300 } : {}),
        }),
      );
      if (size >= 10_000 && tenants === 1) out.push(...cpuLines(workload, ours, baseline));
    }
  }
  return out;
}

function sustainedLines(runs: HoldRun[]): string[][] {
  const ours = runs.filter((r) => r.side === "ours");
  const baseline = runs.filter((r) => r.side === "baseline");
  const workload = "sustained every-second jobs";
  const offered = (side: HoldRun[]) => side[0]?.offered ?? Number.NaN;
  const held = (side: HoldRun[]) => side.filter((r) => r.held).length;
  return [
    line(
      workload,
      `executions/s completed at the highest rate each holds (offered ours ${num(offered(ours), 0)}/s, held ${held(ours)} of ${ours.length}; baseline ${num(offered(baseline), 0)}/s, held ${held(baseline)} of ${baseline.length})`,
      of(ours, (r) => r.executionsPerSecond),
      of(baseline, (r) => r.executionsPerSecond),
      {
        better: "higher",
        digits: 0,
        floor: true,
        target: "≥ 2×, no growing backlog",
        met: (o, b) => b !== undefined && ratio(o, b, "higher") >= 2 && ours.every((r) => r.held),
      },
    ),
    line(
      workload,
      "backlog slope (executions/s)",
      of(ours, (r) => r.backlogSlope),
      of(baseline, (r) => r.backlogSlope),
      { digits: 1 },
    ),
    line(
      workload,
      "end-to-end lag p99 (ms)",
      of(ours, (r) => r.endToEndP99),
      of(baseline, (r) => r.endToEndP99),
      { better: "lower", digits: 0 },
    ),
    ...cpuLines(workload, ours, baseline),
  ];
}

function schedulesLines(runs: SchedulesRun[]): string[][] {
  const ours = runs.filter((r) => r.side === "ours");
  const workload = `schedules, ${num(ours[0]?.jobs ?? 100_000, 0)} jobs`;
  return [
    line(
      workload,
      "created through the batch API (s)",
      of(ours, (r) => r.createSeconds),
      undefined,
      {
        target: "≤ 5 s",
        met: (o) => o.median <= 5,
      },
    ),
    line(
      workload,
      "idle minute: scheduler CPU (% of a core)",
      of(ours, (r) => r.processes.scheduler?.cpuPercent),
      undefined,
      {
        digits: 1,
        target: "≤ 2 %",
        met: (o) => o.median <= 2,
      },
    ),
    line(
      workload,
      "idle minute: start lag p99 (ms)",
      of(ours, (r) => r.startLagP99),
      undefined,
      {
        digits: 0,
        target: "< 50 ms",
        met: (o) => o.median < 50,
      },
    ),
  ];
}

/** The summary section: every issue-15 figure of the latest runs, ours beside the tuned baseline. */
export function issue15Summary(
  results: Issue15Results,
  context: { environment: string[]; baseline: string; command: string; minutes: number },
): string[] {
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const when = (["burst", "sustained", "schedules"] as const)
    .map((w) => `${w} ${results[w]?.at ?? "not run yet"}`)
    .join(", ");
  const rows = [
    ...(results.burst ? burstLines(results.burst.runs) : []),
    ...(results.sustained ? sustainedLines(results.sustained.runs) : []),
    ...(results.schedules ? schedulesLines(results.schedules.runs) : []),
    [
      "api at 300 req/s paced, one tenant holding 100,000 jobs",
      "`GET /jobs/{id}` p95 / `POST /jobs` p95",
      "not in this command: `bench/workloads/api.ts`",
      "—",
      "",
      "< 5 ms / < 15 ms, no error",
      "see the api section",
    ],
  ];
  return [
    `## Latest against the targets of issue 15 — ${stamp}`,
    "",
    `\`${context.command}\` (${context.minutes.toFixed(0)} min). Latest run of each workload: ${when}; each appended its full section below. Medians of the runs (min–max); the ratio is ours against the tuned baseline run in the same command, > 1 when ours is better. Ours: scheduler, worker and api at their defaults, every job created through the API in a freshly migrated database, never ANALYZEd by the bench. Baseline: ${context.baseline}.`,
    "",
    ...context.environment,
    "",
    table(["workload", "figure", "ours", "tuned BullMQ", "ratio", "issue-15 target", ""], rows),
    "",
    "Resolve only when ours is ahead of the tuned baseline on every throughput row (burst 1,000 and 10,000, one tenant and 100; sustained) and the api figures are met.",
    "",
  ];
}

/**
 * Puts the summary at the top of RESULTS.md, under the title; earlier summaries stay
 * below it, their headings marked superseded.
 */
export function writeSummary(section: string[], file = RESULTS_FILE): void {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmark results\n";
  const first = text.search(/^## /m);
  const head = first < 0 ? text : text.slice(0, first);
  const rest = (first < 0 ? "" : text.slice(first)).replace(
    /^## (Latest against the targets)/gm,
    "## Superseded: $1",
  );
  writeFileSync(file, `${head.trimEnd()}\n\n${section.join("\n")}\n${rest}`);
}
