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
      target: (o, b) =>
        size >= 10_000
          ? ["≤ 3 s and ≥ 3× the baseline", o.median <= 3 && ratio(o, b, "lower") >= 3]
          : ["ahead of the baseline", ratio(o, b, "lower") > 1],
    },
    { label: "executions/s", pick: (r) => r.executionsPerSecond, better: "higher", digits: 0 },
    { label: "start lag p50 (ms)", pick: (r) => r.startLagP50, better: "lower", digits: 0 },
    { label: "start lag p95 (ms)", pick: (r) => r.startLagP95, better: "lower", digits: 0 },
    {
      label: "start lag p99 (ms)",
      pick: (r) => r.startLagP99,
      better: "lower",
      digits: 0,
      ...(size <= 1000
        ? { target: (o) => ["≤ 300 ms", o.median <= 300] as [string, boolean] }
        : {}),
    },
    {
      label: "jobs created (s): ours through the batch API, the baseline's upsertJobScheduler",
      pick: (r) => r.createSeconds,
      digits: 2,
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

const shapeName = (tenants: number) =>
  tenants === 1 ? "one tenant" : `${num(tenants, 0)} tenants`;

/**
 * The Markdown of the burst results: one table per size and shape of ours, beside every
 * baseline run of that size; medians (min–max) over runs.
 */
export function burstReport(results: BurstRun[], sizes: number[]): string[] {
  const lines: string[] = [];
  for (const size of sizes) {
    const baseline = results.filter((r) => r.size === size && r.side === "baseline");
    const shapes = [
      ...new Set(results.filter((r) => r.size === size && r.side === "ours").map((r) => r.tenants)),
    ];
    for (const tenants of shapes.length > 0 ? shapes : [0]) {
      const ours = results.filter(
        (r) => r.size === size && r.side === "ours" && r.tenants === tenants,
      );
      const runs = [...ours, ...baseline];
      lines.push(
        `### ${num(size, 0)} jobs due in the same second${tenants ? `, ${shapeName(tenants)}` : ""} — ${ours.length} + ${baseline.length} runs`,
        "",
        compareTable(runs, rowsFor(size, runs)),
        "",
        `Redis commands per execution (top 5, whole server, a middle run): ours ${middle(ours)?.topRedisCommands ?? "—"}; baseline ${middle(baseline)?.topRedisCommands ?? "—"}. Target repeats (an execution id requested twice): ${runs.reduce((s, r) => s + r.targetRepeats, 0)}.`,
        "",
        `Rows written per execution by table (+inserted/~updated/-deleted, a middle run): ours ${middle(ours)?.tableWrites || "—"}; baseline ${middle(baseline)?.tableWrites || "—"}.`,
        "",
      );
    }
  }
  return lines;
}
