import { type BaselineSettings, type TunedBaseline, tunedBaseline } from "../baseline/tuned.js";

/** parseArgs options overriding the tuned baseline's settings. */
export const BASELINE_ARGS = {
  "baseline-concurrency": { type: "string" },
  "baseline-pool": { type: "string" },
} as const;

/** The sweep's best settings (bench/baseline/tuned.json), with the command line's overrides. */
export function baselineFromArgs(values: {
  "baseline-concurrency"?: string | undefined;
  "baseline-pool"?: string | undefined;
}): BaselineSettings & Partial<TunedBaseline> {
  const tuned = tunedBaseline();
  const concurrency = values["baseline-concurrency"];
  const pool = values["baseline-pool"];
  if (concurrency === undefined && pool === undefined) return tuned;
  // Overridden: no longer the sweep's best, and reported as given.
  return {
    concurrency: Number(concurrency ?? tuned.concurrency),
    poolSize: Number(pool ?? tuned.poolSize),
  };
}
