/**
 * sweep: finds the BullMQ baseline's best setup on this machine. For each worker
 * concurrency × PostgreSQL pool size, a burst of `--size` job schedulers due in the same
 * second (the burst workload's baseline side, smaller); the setup with the highest median
 * executions/s is written to bench/baseline/tuned.json, which every workload's baseline
 * then runs with, and the grid is appended to RESULTS.md.
 *
 *   node --conditions=@scheduler/source --import tsx bench/baseline/sweep.ts \
 *     [--concurrency 50,100,200,400] [--pools 10,16,32] [--size 3000] [--runs 1]
 *     [--no-save] [--no-append]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { countEnded, slotFigures } from "../lib/history.js";
import { samplerFor } from "../lib/procStats.js";
import { waitForQuietMachine } from "../lib/quiet.js";
import { appendResults, environmentLines } from "../lib/report.js";
import { closeAll } from "../lib/scratch.js";
import { openBaseline } from "../lib/sides.js";
import { num, showSpread, spread, table, until } from "../lib/stats.js";
import { type BaselineSettings, saveTunedBaseline, TUNED_FILE } from "./tuned.js";

const { values } = parseArgs({
  options: {
    concurrency: { type: "string", default: "50,100,200,400" },
    pools: { type: "string", default: "10,16,32" },
    size: { type: "string", default: "3000" },
    runs: { type: "string", default: "1" },
    "no-save": { type: "boolean", default: false },
    "no-append": { type: "boolean", default: false },
  },
});
const size = Number(values.size);

interface SweepRun extends BaselineSettings {
  executionsPerSecond: number;
  startLagP99: number;
  /** The worker's CPU per execution, ms. */
  workerCpuMs: number;
  /** PostgreSQL's (the whole server's) CPU per execution, ms. */
  postgresCpuMs: number;
  busyBeforePercent: number;
  loadAverage: number;
}

async function run(settings: BaselineSettings): Promise<SweepRun> {
  // A short wait only: twelve setups, and the noise is reported beside each.
  const busyBeforePercent = await waitForQuietMachine(30, 20_000);
  const side = await openBaseline({ tenants: 1, baseline: settings });
  try {
    const sampler = samplerFor(side.processes);
    sampler.start();
    const { slot } = await side.burst(size);
    await until(
      async () =>
        (await countEnded(side.scratch.pool, side.table, slot)) >= size ? true : undefined,
      `${size} baseline executions to end`,
      240_000,
    );
    const doneAt = Date.now();
    sampler.stop();
    const figures = await slotFigures(side.scratch.pool, side.table, slot);
    const cpu = sampler.window(slot.getTime() - 1000, doneAt);
    const perExecution = (name: string) =>
      (1000 * (cpu[name]?.cpuSeconds ?? Number.NaN)) / Math.max(1, figures.completed);
    return {
      ...settings,
      executionsPerSecond: (1000 * figures.completed) / figures.doneAfterMs,
      startLagP99: figures.startLagP99,
      workerCpuMs: perExecution("baseline-worker"),
      postgresCpuMs: perExecution("postgres (whole server)"),
      busyBeforePercent,
      loadAverage: loadavg()[0]!,
    };
  } finally {
    await side.close();
  }
}

const concurrencies = values.concurrency.split(",").map(Number);
const pools = values.pools.split(",").map(Number);
const setups = concurrencies.flatMap((concurrency) =>
  pools.map((poolSize) => ({ concurrency, poolSize })),
);
const environment = await environmentLines();
const results: SweepRun[] = [];
const started = Date.now();
try {
  // Run by run over all setups, so a noisy minute spreads over them rather than one.
  for (let i = 0; i < Number(values.runs); i++) {
    for (const setup of setups) {
      const result = await run(setup);
      console.error(
        `concurrency ${setup.concurrency}, pool ${setup.poolSize}: ${result.executionsPerSecond.toFixed(0)}/s (machine ${result.busyBeforePercent.toFixed(0)} % busy before)`,
      );
      results.push(result);
    }
  }
} finally {
  await closeAll();
}

const of = (s: BaselineSettings) =>
  results.filter((r) => r.concurrency === s.concurrency && r.poolSize === s.poolSize);
const rates = setups.map((s) => ({ s, rate: spread(of(s).map((r) => r.executionsPerSecond)) }));
const best = rates.reduce((a, b) => (b.rate.median > a.rate.median ? b : a));
const minutes = (Date.now() - started) / 60_000;
const how = `burst of ${num(size, 0)} job schedulers due in the same second, ${values.runs} run(s) per setup, concurrency ${values.concurrency} × pool ${values.pools}`;
if (!values["no-save"]) {
  saveTunedBaseline({
    ...best.s,
    executionsPerSecond: best.rate.median,
    measuredAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    how,
  });
}
const rows = setups.map((s) => {
  const runs = of(s);
  return [
    String(s.concurrency),
    String(s.poolSize),
    showSpread(spread(runs.map((r) => r.executionsPerSecond)), 0),
    showSpread(spread(runs.map((r) => r.startLagP99)), 0),
    showSpread(spread(runs.map((r) => r.workerCpuMs)), 2),
    showSpread(spread(runs.map((r) => r.postgresCpuMs)), 2),
    showSpread(spread(runs.map((r) => r.busyBeforePercent)), 0),
    s === best.s ? "**best**" : "",
  ];
});
const busy = results.filter((r) => r.busyBeforePercent > 30).length;
const body = [
  ...environment,
  "",
  ...(busy > 0
    ? [
        `**Noisy:** ${busy} of ${results.length} runs started with the machine over 30 % busy (others' work): the grid measures the machine's load as much as the setups; rerun when it is quiet.`,
        "",
      ]
    : []),
  `Each setup: a fresh database and prefix, the baseline worker (bullmq-latest, keep-alive undici pool, one INSERT and one UPDATE of history per run) warm, then a ${how}. ${minutes.toFixed(1)} min in all. Best: concurrency ${best.s.concurrency}, pool ${best.s.poolSize}, ${num(best.rate.median, 0)}/s${values["no-save"] ? " (not saved: --no-save)" : `, saved to ${TUNED_FILE.replace(/^.*\/bench\//, "bench/")}: the workloads' baseline runs with it`}.`,
  "",
  table(
    [
      "concurrency",
      "pool",
      "executions/s",
      "start lag p99 (ms)",
      "worker CPU (ms per execution)",
      "PostgreSQL CPU, whole server (ms per execution)",
      "machine busy before (% of all cores)",
      "",
    ],
    rows,
  ),
  "",
];
const command = `node --conditions=@scheduler/source --import tsx bench/baseline/sweep.ts --concurrency ${values.concurrency} --pools ${values.pools} --size ${size} --runs ${values.runs}`;
if (values["no-append"]) console.log(body.join("\n"));
else appendResults("baseline sweep (BullMQ concurrency × PostgreSQL pool)", command, body);
process.exit(0);
