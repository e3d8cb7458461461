/**
 * burst: N jobs due in the same second, each an HTTP GET to a local target that answers
 * 200 at once, the history recorded — ours (scheduler + worker + api as processes at
 * their defaults, the jobs created through the API for one tenant, or spread over 100)
 * and the tuned BullMQ baseline (job schedulers + one Worker with the sweep's settings,
 * one INSERT and one UPDATE per execution), alternating run by run on the same machine.
 * The baseline has no tenants: it runs once per size and run, beside every shape of ours.
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/burst.ts \
 *     [--sizes 1000,10000] [--tenants 1,100] [--runs 3] [--side both|ours|baseline]
 *     [--concurrency N (ours; default: the worker's own)] [--baseline-concurrency N]
 *     [--baseline-pool N] [--json file] [--profile] [--no-append]
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { describeBaseline } from "../baseline/tuned.js";
import { BASELINE_ARGS, baselineFromArgs } from "../lib/baselineArgs.js";
import { describeProfiles } from "../lib/cpuProfile.js";
import {
  countEnded,
  describeTableWrites,
  pgCounters,
  pgDelta,
  redisCalls,
  redisDelta,
  type SlotFigures,
  slotFigures,
  tableWrites,
} from "../lib/history.js";
import { REPO_ROOT, stopProcess } from "../lib/processes.js";
import { type ProcessFigures, samplerFor } from "../lib/procStats.js";
import { waitForQuietMachine } from "../lib/quiet.js";
import { appendResults, environmentLines } from "../lib/report.js";
import { closeAll } from "../lib/scratch.js";
import { openSide, type Side } from "../lib/sides.js";
import { sleep, until } from "../lib/stats.js";
import { burstReport } from "./burstReport.js";

/** One run of one side. */
export interface BurstRun extends SlotFigures {
  side: Side;
  size: number;
  /** Tenants ours spread the jobs over; 0 for the baseline, which has none. */
  tenants: number;
  /** Seconds creating the jobs took (ours: the batch API; the baseline: upsertJobScheduler). */
  createSeconds: number;
  executionsPerSecond: number;
  targetHits: number;
  targetRepeats: number;
  processes: Record<string, ProcessFigures>;
  commitsPerExecution: number;
  rowWritesPerExecution: number;
  redisCallsPerExecution: number;
  topRedisCommands: string;
  /** Rows written per execution by table: `table +inserted/~updated/-deleted`. */
  tableWrites: string;
  /** 1-minute load average when the burst ended: how busy the shared machine was. */
  loadAverage: number;
  /** How busy the machine was (% of all cores) just before the run: others' load. */
  busyBeforePercent: number;
}

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1000,10000" },
    tenants: { type: "string", default: "1,100" },
    runs: { type: "string", default: "3" },
    side: { type: "string", default: "both" },
    concurrency: { type: "string" },
    ...BASELINE_ARGS,
    json: { type: "string" },
    profile: { type: "boolean", default: false },
    "no-append": { type: "boolean", default: false },
  },
});
const ourConcurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
const baselineSettings = baselineFromArgs(values);
const sides: Side[] = values.side === "both" ? ["ours", "baseline"] : [values.side as Side];
const shapes = values.tenants.split(",").map(Number);

/** Completion of a burst may take this long before the run is given up. */
const DONE_TIMEOUT_MS = 240_000;

/**
 * One run of one side: a fresh, warm stack, then `size` jobs due in the same second; CPU
 * and RSS sampled from 3 s before the slot until the last execution has ended.
 */
async function run(
  sideName: Side,
  size: number,
  tenants: number,
  profileDir?: string,
): Promise<BurstRun> {
  const busyBeforePercent = await waitForQuietMachine();
  const side = await openSide(sideName, {
    tenants: Math.max(1, tenants),
    baseline: baselineSettings,
    ...(ourConcurrency === undefined ? {} : { ourConcurrency }),
    ...(profileDir ? { profile: { cpuProfileDir: profileDir } } : {}),
  });
  const { scratch, target, processes, table } = side;
  try {
    const sampler = samplerFor(processes, scratch.backendPids());
    sampler.start();
    const hitsBefore = target.hits();
    const { slot, createSeconds } = await side.burst(size);
    // After the jobs are set up (ours inserts them): only the executions' cost counts.
    const pgBefore = await pgCounters(scratch.pool);
    const tablesBefore = await tableWrites(scratch.pool);
    const redisBefore = await redisCalls(scratch.redis);
    await until(
      async () => ((await countEnded(scratch.pool, table, slot)) >= size ? true : undefined),
      `${size} executions of ${sideName} to end`,
      DONE_TIMEOUT_MS,
    );
    const doneAt = Date.now();
    const loadAverage = loadavg()[0]!;
    await sleep(500);
    sampler.stop();
    const redisAfter = await redisCalls(scratch.redis);
    const figures = await slotFigures(scratch.pool, table, slot);
    // Backends flush their statistics when they exit: read the counters after the stop.
    await Promise.all(processes.map((p) => stopProcess(p)));
    const pg = pgDelta(pgBefore, await pgCounters(scratch.pool));
    const tables = describeTableWrites(tablesBefore, await tableWrites(scratch.pool), size);
    const redis = redisDelta(redisBefore, redisAfter);
    const redisTotal = redis.reduce((sum, [, n]) => sum + n, 0);
    return {
      side: sideName,
      size,
      tenants: sideName === "ours" ? tenants : 0,
      createSeconds,
      ...figures,
      executionsPerSecond: (1000 * figures.completed) / figures.doneAfterMs,
      targetHits: target.hits() - hitsBefore,
      targetRepeats: target.repeats(),
      loadAverage,
      tableWrites: tables,
      busyBeforePercent,
      processes: sampler.window(slot.getTime() - 3000, doneAt),
      commitsPerExecution: pg.commits / size,
      rowWritesPerExecution: (pg.inserted + pg.updated) / size,
      redisCallsPerExecution: redisTotal / size,
      topRedisCommands: redis
        .slice(0, 5)
        .map(([cmd, n]) => `${cmd} ${(n / size).toFixed(1)}`)
        .join(", "),
    };
  } finally {
    await side.close();
  }
}

/** Each run: every shape of ours, then the baseline once. */
const plan: [Side, number][] = sides.flatMap((side): [Side, number][] =>
  side === "ours" ? shapes.map((t): [Side, number] => ["ours", t]) : [["baseline", 0]],
);

const environment = await environmentLines();
const sizes = values.sizes.split(",").map(Number);
const results: BurstRun[] = [];
try {
  for (const size of sizes) {
    for (let i = 0; i < Number(values.runs); i++) {
      for (const [side, tenants] of plan) {
        const result = await run(side, size, tenants);
        console.error(JSON.stringify(result));
        results.push(result);
      }
    }
    if (values.profile) {
      for (const [side, tenants] of plan) {
        const dir = `${REPO_ROOT}bench/profiles/burst-${size}-${side}${tenants ? `-${tenants}t` : ""}-${Date.now()}`;
        await run(side, size, tenants, dir);
        console.error(
          `CPU profiles of ${side}, ${size} (an extra run, not in the medians): ${dir}`,
        );
        console.error(describeProfiles(dir));
      }
    }
  }
} finally {
  await closeAll();
}
if (values.json) writeFileSync(values.json, JSON.stringify(results));
const command = `node --conditions=@scheduler/source --import tsx bench/workloads/burst.ts --sizes ${values.sizes} --tenants ${values.tenants} --runs ${values.runs} --side ${values.side}${ourConcurrency === undefined ? "" : ` --concurrency ${ourConcurrency}`} --baseline-concurrency ${baselineSettings.concurrency} --baseline-pool ${baselineSettings.poolSize}`;
const body = [
  ...environment,
  "",
  `Ours: scheduler, worker and api at their defaults${ourConcurrency === undefined ? "" : ` but WORKER_CONCURRENCY=${ourConcurrency}`}, the jobs created through \`POST /internal/jobs/batch-create\` in a freshly migrated database (no ANALYZE). Baseline: ${describeBaseline(baselineSettings)}.`,
  "",
  ...burstReport(results, sizes),
];
if (values["no-append"]) console.log(body.join("\n"));
else appendResults("burst (ours vs tuned BullMQ)", command, body);
process.exit(0);
