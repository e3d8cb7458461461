import { compareTable, processRows, type Row, sideCpuRows } from "../lib/compare.js";
import { num, ratio } from "../lib/stats.js";
import type { BurstRun } from "./burst.js";

const OUR_PROCESSES = ["scheduler", "worker", "api"];

function rowsFor(size: number, runs: BurstRun[]): Row<BurstRun>[] {
  return [
    {
      label: "completed / total (lowest run)",
      pick: (r) => r.completed,
      digits: 0,
      target: (o) => [`${size}`, o.min === size],
    },
    {
      label: "last completed after the due second (s)",
      pick: (r) => r.doneAfterMs / 1000,
      better: "lower",
      ...(size >= 10_000
        ? {
            target: (o, b) => [
              "≤ 3 s and ≥ 4× the baseline",
              o.median <= 3 && ratio(o, b, "lower") >= 4,
            ],
          }
        : {}),
    },
    { label: "executions/s", pick: (r) => r.executionsPerSecond, better: "higher", digits: 0 },
    { label: "start lag p50 (ms)", pick: (r) => r.startLagP50, better: "lower", digits: 0 },
    { label: "start lag p95 (ms)", pick: (r) => r.startLagP95, better: "lower", digits: 0 },
    {
      label: "start lag p99 (ms)",
      pick: (r) => r.startLagP99,
      better: "lower",
      digits: 0,
      ...(size <= 1000 ? { target: (o) => ["< 300 ms", o.median < 300] as [string, boolean] } : {}),
    },
    ...sideCpuRows<BurstRun>((r) => r.completed),
    ...processRows(
      runs,
      (name) =>
        size >= 10_000 && OUR_PROCESSES.includes(name)
          ? ["< 256 MB in every run", (o) => o.max < 256]
          : undefined,
      (r) => r.completed,
    ),
    {
      label: "PostgreSQL commits per execution",
      pick: (r) => r.commitsPerExecution,
      better: "lower",
    },
    { label: "rows written per execution", pick: (r) => r.rowWritesPerExecution, better: "lower" },
    {
      label: "Redis calls per execution (whole server)",
      pick: (r) => r.redisCallsPerExecution,
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

const middle = <T>(list: T[]) => list[Math.floor((list.length - 1) / 2)];

/** The Markdown of the burst results: one table per size, medians (min–max) over runs. */
export function burstReport(results: BurstRun[], sizes: number[], concurrency: number): string[] {
  const lines: string[] = [];
  for (const size of sizes) {
    const runs = results.filter((r) => r.size === size);
    const ours = runs.filter((r) => r.side === "ours");
    const baseline = runs.filter((r) => r.side === "baseline");
    lines.push(
      `### ${num(size, 0)} jobs due in the same second — worker concurrency ${concurrency}, ${ours.length} + ${baseline.length} runs`,
      "",
      compareTable(runs, rowsFor(size, runs)),
      "",
      `Redis commands per execution (top 5, whole server, a middle run): ours ${middle(ours)?.topRedisCommands ?? "—"}; baseline ${middle(baseline)?.topRedisCommands ?? "—"}. Target repeats (an execution id requested twice): ${runs.reduce((s, r) => s + r.targetRepeats, 0)}.`,
      "",
      `Rows written per execution by table (+inserted/~updated/-deleted, a middle run): ours ${middle(ours)?.tableWrites || "—"}; baseline ${middle(baseline)?.tableWrites || "—"}.`,
      "",
    );
  }
  return lines;
}
