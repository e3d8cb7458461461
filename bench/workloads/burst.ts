/**
 * burst: N jobs due in the same second, each an HTTP GET to a local target that answers
 * 200 at once, the history recorded — ours (scheduler + worker + api as processes) and
 * the BullMQ baseline (job schedulers + one Worker of the same concurrency, one INSERT
 * and one UPDATE per execution), alternating run by run on the same machine.
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/burst.ts \
 *     [--sizes 1000,10000] [--runs 3] [--side both|ours|baseline] [--concurrency 50] [--profile]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
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
    runs: { type: "string", default: "3" },
    side: { type: "string", default: "both" },
    concurrency: { type: "string", default: "50" },
    profile: { type: "boolean", default: false },
    "no-append": { type: "boolean", default: false },
  },
});
const concurrency = Number(values.concurrency);
const sides: Side[] = values.side === "both" ? ["ours", "baseline"] : [values.side as Side];

/** Completion of a burst may take this long before the run is given up. */
const DONE_TIMEOUT_MS = 240_000;

/**
 * One run of one side: a fresh, warm stack, then `size` jobs due in the same second; CPU
 * and RSS sampled from 3 s before the slot until the last execution has ended.
 */
async function run(sideName: Side, size: number, profileDir?: string): Promise<BurstRun> {
  const busyBeforePercent = await waitForQuietMachine();
  const side = await openSide(
    sideName,
    concurrency,
    profileDir ? { cpuProfileDir: profileDir } : {},
  );
  const { scratch, target, processes, table } = side;
  try {
    const sampler = samplerFor(processes, scratch.backendPids());
    sampler.start();
    const hitsBefore = target.hits();
    const slot = await side.burst(size);
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

const environment = await environmentLines();
const sizes = values.sizes.split(",").map(Number);
const results: BurstRun[] = [];
try {
  for (const size of sizes) {
    for (let i = 0; i < Number(values.runs); i++) {
      for (const side of sides) {
        const result = await run(side, size);
        console.error(JSON.stringify(result));
        results.push(result);
      }
    }
    if (values.profile) {
      for (const side of sides) {
        const dir = `${REPO_ROOT}bench/profiles/burst-${size}-${side}-${Date.now()}`;
        await run(side, size, dir);
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
const command = `node --conditions=@scheduler/source --import tsx bench/workloads/burst.ts --sizes ${values.sizes} --runs ${values.runs} --side ${values.side} --concurrency ${concurrency}`;
const body = [...environment, "", ...burstReport(results, sizes, concurrency)];
if (values["no-append"]) console.log(body.join("\n"));
else appendResults("burst (ours vs BullMQ job schedulers)", command, body);
process.exit(0);
