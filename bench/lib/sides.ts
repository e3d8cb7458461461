import { Baseline } from "../baseline/baseline.js";
import type { HistoryTable } from "./history.js";
import { insertJobs, onceAt, secondAhead, startOurStack } from "./ours.js";
import type { BenchProcess, StartOptions } from "./processes.js";
import { Scratch } from "./scratch.js";
import { until } from "./stats.js";
import { freePort, startTarget, type Target } from "./target.js";

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
  /** Adds `count` jobs that fire once, all in the same second a few seconds ahead: that second. */
  burst(count: number): Promise<Date>;
  close(): Promise<void>;
}

const EVERY_SECOND = "* * * * * *";

/** Runs on the fresh scratch environment before any process starts. */
export type Prepare = (scratch: Scratch) => Promise<void>;

export async function openOurs(
  concurrency: number,
  profile: StartOptions = {},
  prepare?: Prepare,
): Promise<SteadySide> {
  const scratch = await Scratch.create();
  const target = await startTarget();
  try {
    await prepare?.(scratch);
    const stack = await startOurStack(scratch, {
      targetUrl: target.url,
      env: { WORKER_CONCURRENCY: String(concurrency) },
      withApi: { port: await freePort() },
      ...(profile.cpuProfileDir ? { cpuProfileDir: profile.cpuProfileDir } : {}),
    });
    const side: SteadySide = {
      side: "ours",
      scratch,
      target,
      processes: [stack.scheduler, stack.worker, stack.api!],
      table: "job_executions",
      rate: 0,
      async raiseRate(rate) {
        if (rate <= side.rate) return;
        // First slot past the scheduler's lookahead, so no slot is a misfire.
        await insertJobs(scratch, {
          namePrefix: `every-${side.rate}-`,
          count: rate - side.rate,
          cron: EVERY_SECOND,
          nextAt: secondAhead(3000),
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
        // Past the scheduler's lookahead (2 s) and the insert, so the slot is claimed on time.
        const slot = secondAhead(6000);
        await insertJobs(scratch, {
          namePrefix: "burst-",
          count,
          cron: onceAt(slot),
          nextAt: slot,
          targetUrl: target.url,
        });
        if (Date.now() > slot.getTime() - 2500)
          throw new Error("insert took too long: slot too close");
        return slot;
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

export async function openBaseline(
  concurrency: number,
  profile: StartOptions = {},
  prepare?: Prepare,
): Promise<SteadySide> {
  const scratch = await Scratch.create();
  const target = await startTarget();
  const baseline = new Baseline(scratch, target.url);
  const close = async () => {
    await baseline.close();
    await scratch.close();
    await target.close();
  };
  try {
    await prepare?.(scratch);
    await baseline.createTable();
    const worker = await baseline.startWorker(concurrency, profile);
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
        await baseline.upsertSchedulers(side.rate, count, onceAt(slot));
        if (Date.now() > slot.getTime() - 3000)
          throw new Error("upserts took too long: slot too close");
        return slot;
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

export const openSide = (
  side: Side,
  concurrency: number,
  profile: StartOptions = {},
  prepare?: Prepare,
) =>
  side === "ours"
    ? openOurs(concurrency, profile, prepare)
    : openBaseline(concurrency, profile, prepare);
