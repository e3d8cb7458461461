/** Median and range of one figure over repeated runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** Median (the lower middle for an even count, so it is always a measured value). */
export function spread(values: number[]): Spread {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, runs: 0 };
  return {
    median: sorted[Math.floor((sorted.length - 1) / 2)]!,
    min: sorted[0]!,
    max: sorted.at(-1)!,
    runs: sorted.length,
  };
}

/** Nearest-rank percentile of unsorted values, `p` in 0..1. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** A number with the digits its size deserves. */
export function num(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return "—";
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** `median (min–max)`. */
export function showSpread(s: Spread, digits?: number): string {
  if (s.runs === 0) return "—";
  if (s.runs === 1) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

/**
 * How many times better ours is than the baseline (> 1 is better), by medians. For a
 * figure where lower is better (a time, a lag) that is baseline / ours.
 */
export function ratio(ours: Spread, baseline: Spread, better: "higher" | "lower"): number {
  return better === "higher" ? ours.median / baseline.median : baseline.median / ours.median;
}

export function showRatio(value: number): string {
  return Number.isFinite(value) ? `${num(value, 2)}×` : "—";
}

/** A Markdown table. */
export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Polls `probe` until it returns something other than undefined, or throws after `timeoutMs`. */
export async function until<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
