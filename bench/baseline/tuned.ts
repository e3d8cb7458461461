import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../lib/processes.js";

/** The baseline worker's settings: what the sweep varies. */
export interface BaselineSettings {
  /** BullMQ Worker concurrency (and the HTTP pool's connections). */
  concurrency: number;
  /** PostgreSQL pool size of the worker. */
  poolSize: number;
}

/** What `bench/baseline/sweep.ts` found best on this machine, and when. */
export interface TunedBaseline extends BaselineSettings {
  executionsPerSecond: number;
  measuredAt: string;
  /** How the sweep ran, in words, for RESULTS.md. */
  how: string;
}

export const TUNED_FILE = join(REPO_ROOT, "bench/baseline/tuned.json");

/** Before any sweep: the setup the careful user ran (concurrency 100, 16 connections). */
const UNSWEPT: BaselineSettings = { concurrency: 100, poolSize: 16 };

/** The settings the workloads give the baseline: the sweep's best, else the careful default. */
export function tunedBaseline(): BaselineSettings & Partial<TunedBaseline> {
  if (!existsSync(TUNED_FILE)) return UNSWEPT;
  return JSON.parse(readFileSync(TUNED_FILE, "utf8")) as TunedBaseline;
}

export function saveTunedBaseline(tuned: TunedBaseline): void {
  writeFileSync(TUNED_FILE, `${JSON.stringify(tuned, null, 2)}\n`);
}

/** `concurrency 100, pool 16 (swept 2026-…: 1,234/s)` for a report line. */
export function describeBaseline(settings: BaselineSettings & Partial<TunedBaseline>): string {
  const swept = settings.measuredAt
    ? `the best of the sweep of ${settings.measuredAt} (${Math.round(settings.executionsPerSecond ?? 0)}/s there)`
    : "not the sweep's best: given on the command line, or no sweep recorded";
  return `BullMQ worker concurrency ${settings.concurrency}, PostgreSQL pool ${settings.poolSize}, keep-alive undici pool (${swept})`;
}
