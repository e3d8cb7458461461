/**
 * fairness: the burst workload (N jobs due in the same second over the bench's 100
 * tenants, an HTTP GET each to a target that answers at once) with tenant fairness on
 * and off (TENANT_FAIRNESS), alternating run by run on the same machine; reports how
 * much longer the burst takes with it on (the target: at most 10 % more).
 *
 *   node --conditions=@scheduler/source --import tsx bench/workloads/fairness.ts \
 *     [--size 10000] [--runs 3] [--concurrency 200] [--no-append]
 */
import { parseArgs } from "node:util";
import { countEnded, redisCalls, redisDelta, slotFigures } from "../lib/history.js";
import { insertJobs, onceAt, secondAhead, startOurStack } from "../lib/ours.js";
import { stopProcess } from "../lib/processes.js";
import { waitForQuietMachine } from "../lib/quiet.js";
import { appendResults, environmentLines } from "../lib/report.js";
import { closeAll, Scratch } from "../lib/scratch.js";
import { num, showSpread, spread, table, until } from "../lib/stats.js";
import { startTarget } from "../lib/target.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "10000" },
    runs: { type: "string", default: "3" },
    concurrency: { type: "string", default: "200" },
    "no-append": { type: "boolean", default: false },
  },
});
const size = Number(values.size);
const concurrency = Number(values.concurrency);

interface FairnessRun {
  fairness: boolean;
  doneAfterMs: number;
  startLagP99: number;
  completed: number;
  redisCallsPerExecution: number;
}

/** One burst on a fresh, warm stack with fairness on or off. */
async function run(fairness: boolean): Promise<FairnessRun> {
  await waitForQuietMachine();
  const scratch = await Scratch.create();
  const target = await startTarget();
  try {
    const stack = await startOurStack(scratch, {
      targetUrl: target.url,
      env: { WORKER_CONCURRENCY: String(concurrency), TENANT_FAIRNESS: String(fairness) },
    });
    const slot = secondAhead(6000);
    await insertJobs(scratch, {
      namePrefix: "burst-",
      count: size,
      cron: onceAt(slot),
      nextAt: slot,
      targetUrl: target.url,
    });
    const redisBefore = await redisCalls(scratch.redis);
    await until(
      async () =>
        (await countEnded(scratch.pool, "job_executions", slot)) >= size ? true : undefined,
      `${size} executions to end`,
      240_000,
    );
    const redis = redisDelta(redisBefore, await redisCalls(scratch.redis));
    const figures = await slotFigures(scratch.pool, "job_executions", slot);
    await Promise.all([stack.scheduler, stack.worker].map((p) => stopProcess(p)));
    return {
      fairness,
      doneAfterMs: figures.doneAfterMs,
      startLagP99: figures.startLagP99,
      completed: figures.completed,
      redisCallsPerExecution: redis.reduce((sum, [, n]) => sum + n, 0) / size,
    };
  } finally {
    await scratch.close();
    await target.close();
  }
}

const environment = await environmentLines();
const runs: FairnessRun[] = [];
try {
  for (let i = 0; i < Number(values.runs); i++) {
    for (const fairness of i % 2 === 0 ? [true, false] : [false, true]) {
      const result = await run(fairness);
      console.error(JSON.stringify(result));
      runs.push(result);
    }
  }
} finally {
  await closeAll();
}
const of = (on: boolean) => runs.filter((r) => r.fairness === on);
const done = (on: boolean) => spread(of(on).map((r) => r.doneAfterMs));
const ratio = done(true).median / done(false).median;
const rows = [true, false].map((on) => [
  on ? "on" : "off",
  showSpread(done(on), 0),
  showSpread(spread(of(on).map((r) => r.startLagP99)), 0),
  num(spread(of(on).map((r) => r.redisCallsPerExecution)).median, 1),
  String(Math.min(...of(on).map((r) => r.completed))),
]);
const body = [
  ...environment,
  "",
  table(
    [
      "fairness",
      "done after slot (ms)",
      "start lag p99 (ms)",
      "Redis calls/execution",
      "completed (min)",
    ],
    rows,
  ),
  "",
  `Burst of ${size} over 100 tenants, WORKER_CONCURRENCY=${concurrency}: with fairness on it takes ${num(ratio, 3)}× as long as off (median of ${values.runs} runs each; the target is ≤ 1.10).`,
];
const command = `node --conditions=@scheduler/source --import tsx bench/workloads/fairness.ts --size ${size} --runs ${values.runs} --concurrency ${concurrency}`;
if (values["no-append"]) console.log(body.join("\n"));
else appendResults("fairness (burst with tenant fairness on vs off)", command, body);
process.exit(0);
