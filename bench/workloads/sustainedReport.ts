import { compareTable, processRows, type Row, sideCpuRows } from "../lib/compare.js";
import type { Side } from "../lib/sides.js";
import { ratio } from "../lib/stats.js";
import type { HoldRun } from "./sustained.js";

function rows(runs: HoldRun[]): Row<HoldRun>[] {
  return [
    {
      label: "offered executions/s (every-second jobs)",
      pick: (r) => r.offered,
      better: "higher",
      digits: 0,
    },
    {
      label: "executions/s completed",
      pick: (r) => r.executionsPerSecond,
      better: "higher",
      digits: 0,
      target: (o, b) => [
        "≥ 2× the baseline, held",
        ratio(o, b, "higher") >= 2 && runs.filter((r) => r.side === "ours").every((r) => r.held),
      ],
    },
    { label: "runs held (1 = yes)", pick: (r) => (r.held ? 1 : 0), digits: 0 },
    { label: "backlog at the start of the window", pick: (r) => r.backlogFirst, digits: 0 },
    { label: "backlog at the end of the window", pick: (r) => r.backlogLast, digits: 0 },
    { label: "backlog slope (executions/s)", pick: (r) => r.backlogSlope, digits: 1 },
    { label: "skipped slots (maxConcurrent)", pick: (r) => r.skipped, digits: 0 },
    { label: "failed executions", pick: (r) => r.failed, digits: 0 },
    { label: "start lag p50 (ms)", pick: (r) => r.startLagP50, better: "lower", digits: 0 },
    { label: "start lag p99 (ms)", pick: (r) => r.startLagP99, better: "lower", digits: 0 },
    { label: "end-to-end lag p50 (ms)", pick: (r) => r.endToEndP50, better: "lower", digits: 0 },
    { label: "end-to-end lag p95 (ms)", pick: (r) => r.endToEndP95, better: "lower", digits: 0 },
    { label: "end-to-end lag p99 (ms)", pick: (r) => r.endToEndP99, better: "lower", digits: 0 },
    ...sideCpuRows<HoldRun>((r) => r.completed),
    ...processRows(runs, undefined, (r) => r.completed),
    {
      label: "PostgreSQL commits per execution",
      pick: (r) => r.commitsPerExecution,
      better: "lower",
    },
    { label: "machine load average (1 min) at the end", pick: (r) => r.loadAverage },
    {
      label: "machine busy before the run (% of all cores)",
      pick: (r) => r.busyBeforePercent,
      digits: 0,
    },
  ];
}

/** The Markdown of the sustained results. */
export function sustainedReport(
  results: HoldRun[],
  rates: Map<Side, number>,
  laddered: boolean,
): string[] {
  const count = (side: Side) => results.filter((r) => r.side === side).length;
  const how = laddered
    ? "the highest rate of a ladder (10 s steps ×1.25, held: ≥ 95 % completed (90 % in a 10 s step), backlog growth < 0.5 s of work, nothing skipped)"
    : "rates given on the command line";
  return [
    `### Every-second jobs held ${results[0]?.seconds ?? 60} s — ${count("ours")} + ${count("baseline")} runs`,
    "",
    `Offered rate per side: ${[...rates].map(([s, n]) => `${s} ${n}/s`).join(", ")} (${how}).`,
    "",
    compareTable(results, rows(results)),
    "",
  ];
}
