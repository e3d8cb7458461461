import { Baseline } from "../baseline/baseline.js";
import type { BaselineSettings } from "../baseline/tuned.js";
import { createThroughApi, newTenants } from "./apiJobs.js";
import type { HistoryTable } from "./history.js";
import { onceAt, secondAhead, startOurStack } from "./ours.js";
import type { BenchProcess, StartOptions } from "./processes.js";
import { Scratch } from "./scratch.js";
import { until } from "./stats.js";
import { startTarget, type Target } from "./target.js";

export type Side = "ours" | "baseline";

/**
 * One side of a steady-load comparison, started and warm: every-second jobs can be
 * added to reach an offered rate, and its backlog (executions due but not ended) read.
 */
export interface SteadySide {
  side: Side;
  scratch: Scratch;
  target: Target;
  processes: BenchProcess[];
  table: HistoryTable;
  /** Every-second jobs now scheduled: the offered executions/s. */
  rate: number;
  /** Adds every-second jobs until `rate` are scheduled. */
  raiseRate(rate: number): Promise<void>;
  /** Executions due and not ended. */
  backlog(): Promise<number>;
  /**
   * Adds `count` jobs that fire once, all in the same second a few seconds ahead: that
   * second, and how long creating the jobs took.
   */
  burst(count: number): Promise<{ slot: Date; createSeconds: number }>;
  close(): Promise<void>;
}

const EVERY_SECOND = "* * * * * *";

/** Runs on the fresh scratch environment before any process starts. */
export type Prepare = (scratch: Scratch) => Promise<void>;

/** How each side is set up. */
export interface OpenOptions {
  /** Our worker's WORKER_CONCURRENCY; unset: its default, as a new user runs it. */
  ourConcurrency?: number;
  /** Tenants our jobs are spread over, in equal shares (the baseline has no tenants). */
  tenants: number;
  /** The baseline worker's settings (bench/baseline/tuned.json unless overridden). */
  baseline: BaselineSettings;
  profile?: StartOptions;
  prepare?: Prepare;
}

/** Lead before a burst's slot: the scheduler claims 2 s ahead; creating 10,000 takes ~1–3 s. */
const burstLeadMs = (count: number) => 6000 + count * 0.8;

export async function openOurs(options: OpenOptions): Promise<SteadySide> {
  const scratch = await Scratch.create();
  const target = await startTarget();
  const tenants = newTenants(options.tenants);
  try {
    await options.prepare?.(scratch);
    const stack = await startOurStack(scratch, {
      targetUrl: target.url,
      env:
        options.ourConcurrency === undefined
          ? {}
          : { WORKER_CONCURRENCY: String(options.ourConcurrency) },
      ...(options.profile?.cpuProfileDir ? { cpuProfileDir: options.profile.cpuProfileDir } : {}),
    });
    const side: SteadySide = {
      side: "ours",
      scratch,
      target,
      processes: [stack.scheduler, stack.worker, stack.api],
      table: "job_executions",
      rate: 0,
      async raiseRate(rate) {
        if (rate <= side.rate) return;
        await createThroughApi(stack.apiBase, {
          tenants,
          count: rate - side.rate,
          cron: EVERY_SECOND,
          namePrefix: `every-${side.rate}-`,
          targetUrl: target.url,
        });
        side.rate = rate;
      },
      async backlog() {
        const { rows } = await scratch.pool.query(
          "SELECT count(*)::int AS n FROM job_executions WHERE status IN ('pending', 'running') AND scheduled_at <= now()",
        );
        return rows[0].n as number;
      },
      async burst(count) {
        const slot = secondAhead(burstLeadMs(count));
        const createSeconds = await createThroughApi(stack.apiBase, {
          tenants,
          count,
          cron: onceAt(slot),
          namePrefix: "burst-",
          targetUrl: target.url,
        });
        // The scheduler claims up to 2 s ahead of the slot: the jobs must be there by then.
        if (Date.now() > slot.getTime() - 2500)
          throw new Error(
            `creating ${count} jobs took ${createSeconds.toFixed(1)} s: slot too close`,
          );
        return { slot, createSeconds };
      },
      async close() {
        await scratch.close();
        await target.close();
      },
    };
    return side;
  } catch (error) {
    await scratch.close();
    await target.close();
    throw error;
  }
}

export async function openBaseline(options: OpenOptions): Promise<SteadySide> {
  const scratch = await Scratch.create();
  const target = await startTarget();
  const baseline = new Baseline(scratch, target.url);
  const close = async () => {
    await baseline.close();
    await scratch.close();
    await target.close();
  };
  try {
    await options.prepare?.(scratch);
    await baseline.createTable();
    const worker = await baseline.startWorker(options.baseline, options.profile);
    await warmBaseline(baseline, scratch);
    const side: SteadySide = {
      side: "baseline",
      scratch,
      target,
      processes: [worker],
      table: "baseline_executions",
      rate: 0,
      async raiseRate(rate) {
        if (rate <= side.rate) return;
        await baseline.upsertSchedulers(side.rate, rate - side.rate, EVERY_SECOND);
        side.rate = rate;
      },
      async backlog() {
        const counts = await baseline.queue.getJobCounts("wait", "active", "prioritized");
        return (counts.wait ?? 0) + (counts.active ?? 0) + (counts.prioritized ?? 0);
      },
      async burst(count) {
        // Upserting takes ~1 ms a scheduler here: leave room before the measured window opens.
        const slot = secondAhead(6000 + count * 1.5);
        const started = performance.now();
        await baseline.upsertSchedulers(side.rate, count, onceAt(slot));
        if (Date.now() > slot.getTime() - 3000)
          throw new Error("upserts took too long: slot too close");
        return { slot, createSeconds: (performance.now() - started) / 1000 };
      },
      close,
    };
    return side;
  } catch (error) {
    await close();
    throw error;
  }
}

/** 20 plain jobs through the worker before anything is measured. */
export async function warmBaseline(baseline: Baseline, scratch: Scratch): Promise<void> {
  await baseline.addNow(20);
  await until(
    async () => {
      const { rows } = await scratch.pool.query(
        "SELECT count(*)::int AS n FROM baseline_executions WHERE status = 'completed'",
      );
      return rows[0].n >= 20 ? true : undefined;
    },
    "baseline warm-up",
    60_000,
  );
}

export const openSide = (side: Side, options: OpenOptions) =>
  side === "ours" ? openOurs(options) : openBaseline(options);
