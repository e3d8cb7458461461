import type { ProcessFigures } from "./procStats.js";
import type { Side } from "./sides.js";
import { ratio, type Spread, showRatio, showSpread, spread, table } from "./stats.js";

/** One figure of a side-by-side table. */
export interface Row<R> {
  label: string;
  pick: (r: R) => number | undefined;
  /** Which way is better, for the ratio column; none: no ratio. */
  better?: "higher" | "lower";
  digits?: number;
  /** The target for this figure, and whether the medians meet it. */
  target?: (ours: Spread, baseline: Spread) => [string, boolean];
}

const of = <R>(runs: R[], pick: Row<R>["pick"]) =>
  spread(runs.map(pick).filter((v): v is number => v !== undefined));

/** Ours against the baseline: medians (min–max) over runs, the ratio, the target. */
export function compareTable<R extends { side: Side }>(runs: R[], rows: Row<R>[]): string {
  const ours = runs.filter((r) => r.side === "ours");
  const baseline = runs.filter((r) => r.side === "baseline");
  const cells = rows.map((row) => {
    const o = of(ours, row.pick);
    const b = of(baseline, row.pick);
    const [goal, met] = row.target?.(o, b) ?? ["", undefined];
    return [
      row.label,
      showSpread(o, row.digits),
      showSpread(b, row.digits),
      row.better ? showRatio(ratio(o, b, row.better)) : "",
      goal,
      met === undefined ? "" : met ? "met" : "**missed**",
    ];
  });
  return table(
    [
      "figure",
      "ours: median (min–max)",
      "BullMQ baseline",
      "ratio (> 1: ours better)",
      "target",
      "",
    ],
    cells,
  );
}

/** CPU and peak RSS rows for every process any run sampled. */
export function processRows<R extends { processes: Record<string, ProcessFigures> }>(
  runs: R[],
  rssTarget?: (name: string) => [string, (peak: Spread) => boolean] | undefined,
  executionsOf?: (r: R) => number,
): Row<R>[] {
  const names = new Set(runs.flatMap((r) => Object.keys(r.processes)));
  const rows: Row<R>[] = [];
  for (const name of names) {
    rows.push({
      label: `CPU ${name} (% of a core)`,
      pick: (r) => r.processes[name]?.cpuPercent,
      digits: 0,
    });
    if (executionsOf) {
      rows.push({
        label: `CPU ${name} (ms per execution)`,
        pick: (r) => {
          const cpu = r.processes[name]?.cpuSeconds;
          return cpu === undefined ? undefined : (1000 * cpu) / executionsOf(r);
        },
        better: "lower",
        digits: 2,
      });
    }
    if (name.startsWith("postgres")) continue;
    const goal = rssTarget?.(name);
    rows.push({
      label: `peak RSS ${name} (MB)`,
      pick: (r) => r.processes[name]?.peakRssMb ?? undefined,
      digits: 0,
      ...(goal ? { target: (o: Spread) => [goal[0], goal[1](o)] as [string, boolean] } : {}),
    });
  }
  return rows;
}

/** CPU of the side's own processes (ours: scheduler + worker + api; the baseline's worker). */
export function appCpuSeconds(processes: Record<string, ProcessFigures>): number {
  return ["scheduler", "worker", "api", "baseline-worker"].reduce(
    (sum, name) => sum + (processes[name]?.cpuSeconds ?? 0),
    0,
  );
}

/** Rows comparing the two sides' worker and application CPU per execution. */
export function sideCpuRows<R extends { processes: Record<string, ProcessFigures> }>(
  executionsOf: (r: R) => number,
): Row<R>[] {
  return [
    {
      label: "worker process CPU (ms per execution)",
      pick: (r) => {
        const cpu = (r.processes.worker ?? r.processes["baseline-worker"])?.cpuSeconds;
        return cpu === undefined ? undefined : (1000 * cpu) / executionsOf(r);
      },
      better: "lower",
      digits: 2,
    },
    {
      label: "all app processes CPU (ms per execution)",
      pick: (r) => (1000 * appCpuSeconds(r.processes)) / executionsOf(r),
      better: "lower",
      digits: 2,
    },
  ];
}
